package main

// Held calls, as a vCenter that is slow to answer one method behaves:
//
//	POST /ctl/hold?method=M[&count=N]    the next N calls (default 1) of SOAP
//	                                     method M get no answer until released;
//	                                     count=0 clears the rule
//	POST /ctl/release?method=M           held calls of M go on to the simulator
//	                                     and are answered; M's rule is cleared
//	GET  /ctl/held?method=M              "N\n": calls of M held right now
//
// A held call also ends when its client goes away.

import (
	"fmt"
	"log"
	"net/http"
	"strconv"
	"sync"
)

type holdState struct {
	mu      sync.Mutex
	rules   map[string]int           // method -> calls still to hold
	waiting map[string]int           // method -> calls held now
	release map[string]chan struct{} // method -> closed by /ctl/release
}

var holds = holdState{rules: map[string]int{}, waiting: map[string]int{}, release: map[string]chan struct{}{}}

func mountHold(mux *http.ServeMux) {
	mux.HandleFunc("/ctl/hold", post(ctlHold))
	mux.HandleFunc("/ctl/release", post(ctlRelease))
	mux.HandleFunc("/ctl/held", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		holds.mu.Lock()
		n := holds.waiting[r.URL.Query().Get("method")]
		holds.mu.Unlock()
		fmt.Fprintf(w, "%d\n", n)
	})
}

// methodCount reads ?method=M[&count=N] (N >= 0, default 1); false when
// the request was answered with a 400.
func methodCount(w http.ResponseWriter, r *http.Request) (string, int, bool) {
	q := r.URL.Query()
	method, count := q.Get("method"), 1
	if method == "" {
		http.Error(w, "method is required", http.StatusBadRequest)
		return "", 0, false
	}
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			http.Error(w, "count must be a whole number", http.StatusBadRequest)
			return "", 0, false
		}
		count = n
	}
	return method, count, true
}

// ctlHold: POST /ctl/hold?method=M[&count=N].
func ctlHold(w http.ResponseWriter, r *http.Request) {
	method, count, valid := methodCount(w, r)
	if !valid {
		return
	}
	holds.mu.Lock()
	if count == 0 {
		delete(holds.rules, method)
	} else {
		holds.rules[method] = count
	}
	holds.mu.Unlock()
	ok(w)
}

// ctlRelease: POST /ctl/release?method=M.
func ctlRelease(w http.ResponseWriter, r *http.Request) {
	method := r.URL.Query().Get("method")
	if method == "" {
		http.Error(w, "method is required", http.StatusBadRequest)
		return
	}
	holds.mu.Lock()
	delete(holds.rules, method)
	if ch := holds.release[method]; ch != nil {
		close(ch)
		delete(holds.release, method)
	}
	holds.mu.Unlock()
	ok(w)
}

// holdCall blocks a call of a held method until it is released or its
// client goes away.
func holdCall(r *http.Request, body []byte) {
	method, _ := peekCall(body)
	holds.mu.Lock()
	n := holds.rules[method]
	if n <= 0 {
		holds.mu.Unlock()
		return
	}
	if n == 1 {
		delete(holds.rules, method)
	} else {
		holds.rules[method] = n - 1
	}
	ch := holds.release[method]
	if ch == nil {
		ch = make(chan struct{})
		holds.release[method] = ch
	}
	holds.waiting[method]++
	holds.mu.Unlock()
	log.Printf("holding a call of %s", method)
	select {
	case <-ch:
		log.Printf("releasing a call of %s", method)
	case <-r.Context().Done():
		log.Printf("a held call of %s: the client went away", method)
	}
	holds.mu.Lock()
	holds.waiting[method]--
	holds.mu.Unlock()
}
