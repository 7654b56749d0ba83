package main

// A slow or broken vCenter, for the client's retry rules (slowHook wraps
// serveSDK, mountSlow adds the controls):
//
//	POST /ctl/delay?method=M&delay=D[&count=N]
//	     the next N (default: all) calls of SOAP method M run at once, as
//	     usual (their effect, a new VM say, is there right away), but their
//	     answer is held for D before it is written, as a slow vCenter or a
//	     lost answer looks to a client that gives up first; delay=0 clears M
//	POST /ctl/pad?method=M&bytes=B[&count=N]
//	     the next N (default: all) answers to M get B bytes of whitespace
//	     after the SOAP envelope (valid XML, just big); bytes=0 clears M
//	GET  /ctl/calls?method=M
//	     how many calls of M reached the launcher so far (a number and a
//	     newline), counted before any other hook, held or not. M "HTTP":
//	     every HTTP request to the launcher's loopback names outside /ctl
//	     (SOAP too); "HTTP VERB /SEG" (e.g. "HTTP HEAD /folder"): those with
//	     that verb whose path starts with /SEG/ ("HTTP POST /sdk" for SOAP);
//	     "TLS": TLS handshakes begun (new connections, /ctl's own included)
//	POST /ctl/tls-fail?count=N
//	     the next N TLS handshakes (new connections, to any path) fail: the
//	     client's request is never sent; count=0 clears
//	POST /ctl/drop?method=M[&count=N]
//	     the next N (default 1) calls of M run, as usual, but no answer is
//	     written: their connection is closed, as when a vCenter or its
//	     proxy fails after doing the work; count=0 clears M
//	GET  /ctl/last?method=M
//	     the body of the last request of M (404 if none yet): what the
//	     client sent, e.g. the device of a ReconfigVM_Task
//
// The rules hold their own lock and state, apart from the peer's.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

type slowRule struct {
	delay time.Duration
	pad   int
	count int // < 0: every call
}

var slow = struct {
	sync.Mutex
	delay   map[string]*slowRule
	pad     map[string]*slowRule
	drop    map[string]*slowRule
	calls   map[string]int
	last    map[string][]byte
	tlsFail int
}{delay: map[string]*slowRule{}, pad: map[string]*slowRule{}, drop: map[string]*slowRule{}, calls: map[string]int{},
	last: map[string][]byte{}}

func (p *peer) mountSlow(mux *http.ServeMux) {
	mux.HandleFunc("/ctl/delay", post(func(w http.ResponseWriter, r *http.Request) { ctlSlow(w, r, true) }))
	mux.HandleFunc("/ctl/pad", post(func(w http.ResponseWriter, r *http.Request) { ctlSlow(w, r, false) }))
	mux.HandleFunc("/ctl/calls", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		slow.Lock()
		n := slow.calls[r.URL.Query().Get("method")]
		slow.Unlock()
		fmt.Fprintf(w, "%d\n", n)
	})
	mux.HandleFunc("/ctl/tls-fail", post(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("count"))
		if err != nil || n < 0 {
			http.Error(w, "count must be a number >= 0", http.StatusBadRequest)
			return
		}
		slow.Lock()
		slow.tlsFail = n
		slow.Unlock()
		ok(w)
	}))
	mux.HandleFunc("/ctl/drop", post(func(w http.ResponseWriter, r *http.Request) {
		method, n, valid := methodCount(w, r) // hold.go
		if !valid {
			return
		}
		slow.Lock()
		if n == 0 {
			delete(slow.drop, method)
		} else {
			slow.drop[method] = &slowRule{count: n}
		}
		slow.Unlock()
		ok(w)
	}))
	mux.HandleFunc("/ctl/last", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		slow.Lock()
		body, seen := slow.last[r.URL.Query().Get("method")]
		slow.Unlock()
		if !seen {
			http.Error(w, "no call of that method yet", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(body)
	})
}

// ctlSlow: POST /ctl/delay?method=M&delay=D[&count=N] or /ctl/pad?method=M&bytes=B[&count=N].
func ctlSlow(w http.ResponseWriter, r *http.Request, isDelay bool) {
	q := r.URL.Query()
	method := q.Get("method")
	if method == "" {
		http.Error(w, "method is required", http.StatusBadRequest)
		return
	}
	rule := &slowRule{count: -1}
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			http.Error(w, "count must be a number >= 1", http.StatusBadRequest)
			return
		}
		rule.count = n
	}
	var clear bool
	if isDelay {
		d, err := time.ParseDuration(q.Get("delay"))
		if err != nil || d < 0 {
			http.Error(w, "delay must be a duration such as 3s or 0", http.StatusBadRequest)
			return
		}
		rule.delay, clear = d, d == 0
	} else {
		b, err := strconv.Atoi(q.Get("bytes"))
		if err != nil || b < 0 || b > 1<<30 {
			http.Error(w, "bytes must be a number 0..2^30", http.StatusBadRequest)
			return
		}
		rule.pad, clear = b, b == 0
	}
	slow.Lock()
	m := slow.pad
	if isDelay {
		m = slow.delay
	}
	if clear {
		delete(m, method)
	} else {
		m[method] = rule
	}
	slow.Unlock()
	ok(w)
}

// tlsHook is the server's tls.Config.GetConfigForClient: it fails a
// handshake while /ctl/tls-fail asks for it.
func tlsHook(*tls.ClientHelloInfo) (*tls.Config, error) {
	slow.Lock()
	defer slow.Unlock()
	slow.calls["TLS"]++
	if slow.tlsFail > 0 {
		slow.tlsFail--
		return nil, errors.New("handshake refused by /ctl/tls-fail")
	}
	return nil, nil // the server's own configuration
}

// take returns the rule for method in m and counts one use of it.
func takeSlow(m map[string]*slowRule, method string) *slowRule {
	rule := m[method]
	if rule == nil {
		return nil
	}
	if rule.count > 0 {
		if rule.count--; rule.count == 0 {
			delete(m, method)
		}
	}
	return rule
}

// bufWriter holds an answer until slowHook lets it go.
type bufWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufWriter) Header() http.Header { return b.header }
func (b *bufWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

// noteHTTP counts one HTTP request: under "HTTP" and "HTTP VERB /SEG".
func noteHTTP(r *http.Request) {
	seg := strings.TrimPrefix(r.URL.Path, "/")
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg = seg[:i]
	}
	slow.Lock()
	slow.calls["HTTP"]++
	slow.calls["HTTP "+r.Method+" /"+seg]++
	slow.Unlock()
}

// countHTTP counts a request to a loopback name outside /sdk (served by
// slowHook), then serves it as the mux would without our host patterns:
// /ctl by ours, /folder, /nfc and the rest by the simulator's.
func countHTTP(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/ctl/") {
			noteHTTP(r)
		}
		r2 := r.Clone(r.Context())
		r2.Host = "" // matches no host pattern: the generic ones answer
		h, _ := mux.Handler(r2)
		h.ServeHTTP(w, r)
	}
}

// slowHook counts SOAP calls and applies /ctl/delay and /ctl/pad around next.
func (p *peer) slowHook(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		noteHTTP(r)
		if r.Method != http.MethodPost {
			next(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		method, _ := peekCall(body)
		slow.Lock()
		slow.calls[method]++
		slow.last[method] = body
		delay, pad := takeSlow(slow.delay, method), takeSlow(slow.pad, method)
		drop := takeSlow(slow.drop, method)
		slow.Unlock()
		if path := badPath(method, body); path != "" { // paths.go
			log.Printf("%s: InvalidProperty %s, as vCenter answers", method, path)
			writeFault(w, "InvalidProperty: "+path, &types.InvalidProperty{Name: path})
			return
		}
		if delay == nil && pad == nil && drop == nil {
			next(w, r)
			return
		}
		bw := &bufWriter{header: http.Header{}}
		next(bw, r)
		if drop != nil {
			log.Printf("%s ran: dropping its connection unanswered", method)
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // closes the connection too
		}
		if pad != nil {
			bw.body.Write(bytes.Repeat([]byte(" "), pad.pad))
		}
		if delay != nil {
			time.Sleep(delay.delay)
		}
		for k, v := range bw.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		if bw.code == 0 {
			bw.code = http.StatusOK
		}
		w.WriteHeader(bw.code)
		_, _ = w.Write(bw.body.Bytes())
	}
}
