package main

// Faults a soak test injects the way vCenter shows them (see the package
// comment in main.go):
//
//   - POST /ctl/expire-sessions: every session a client has used ends now, as
//     when vCenter's administrator terminates sessions or the service
//     restarts its session store: the next call of each client is answered
//     NotAuthenticated, and a Login makes a new session. The launcher notes
//     the session cookie of every SOAP request it sees, and terminates each
//     through the simulator's own SessionManager.TerminateSession, called
//     from a session of its own, so the simulator's locking is kept.
//   - -cert FILE: the TLS certificate and key are kept in FILE (PEM; made and
//     written when FILE does not exist), so a launcher killed and started
//     again on the same -listen address presents the same certificate, as a
//     restarted vCenter does. The inventory is not kept: the simulator's
//     model is made anew (the same clusters, hosts and datastores, under the
//     same MoRefs, with no VMs of ours).
//   - -moref-start N: objects made after the start (VMs, tasks) get MoRef
//     numbers above N, so a restarted launcher given a higher N never reuses
//     a MoRef of the inventory before, as vCenter never does.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"sync"
	"unsafe"

	"github.com/vmware/govmomi/simulator"

	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/xml"
)

// sessionLog: the session keys clients have used, and the credentials the
// launcher logs in with to terminate them.
var sessionLog = struct {
	sync.Mutex
	seen  map[string]bool
	login *url.Userinfo
}{seen: map[string]bool{}}

// noteSession records the session cookie of a SOAP request, if any.
func noteSession(r *http.Request) {
	c, err := r.Cookie(soap.SessionCookieName)
	if err != nil || c.Value == "" {
		return
	}
	sessionLog.Lock()
	sessionLog.seen[c.Value] = true
	sessionLog.Unlock()
}

// sessionManagerCall runs one SessionManager method (its body, without
// _this) through the simulator with the given session cookie ("" for none).
func (p *peer) sessionManagerCall(cookie, method, inner string) *httptest.ResponseRecorder {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><`)
	b.WriteString(method)
	b.WriteString(` xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this>`)
	b.WriteString(inner)
	b.WriteString(`</` + method + `></soapenv:Body></soapenv:Envelope>`)
	req := httptest.NewRequest(http.MethodPost, "/sdk", &b)
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: soap.SessionCookieName, Value: cookie})
	}
	rec := httptest.NewRecorder()
	p.svc.ServeSDK(rec, req)
	return rec
}

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// ctlExpireSessions: POST /ctl/expire-sessions. Answers "ok N" (sessions ended).
func (p *peer) ctlExpireSessions(w http.ResponseWriter, r *http.Request) {
	sessionLog.Lock()
	keys := make([]string, 0, len(sessionLog.seen))
	for k := range sessionLog.seen {
		keys = append(keys, k)
	}
	sessionLog.seen = map[string]bool{}
	login := sessionLog.login
	sessionLog.Unlock()

	user, pass := "user", "pass"
	if login != nil {
		user = login.Username()
		pass, _ = login.Password()
	}
	rec := p.sessionManagerCall("", "Login", "<userName>"+xmlText(user)+"</userName><password>"+xmlText(pass)+"</password>")
	var own string
	for _, c := range rec.Result().Cookies() {
		if c.Name == soap.SessionCookieName {
			own = c.Value
		}
	}
	if rec.Code != http.StatusOK || own == "" {
		http.Error(w, fmt.Sprintf("cannot log in to terminate sessions (HTTP %d)", rec.Code), http.StatusInternalServerError)
		return
	}
	n := 0
	for _, k := range keys {
		// NotFound (already gone: logged out or idle-expired) is fine
		if p.sessionManagerCall(own, "TerminateSession", "<sessionId>"+xmlText(k)+"</sessionId>").Code == http.StatusOK {
			n++
		}
	}
	p.sessionManagerCall(own, "Logout", "")
	log.Printf("expired %d session(s)", n)
	fmt.Fprintf(w, "ok %d\n", n)
}

// certificate returns the TLS certificate to serve: the one kept in file
// when it exists, else a new one (written to file when file is set).
func certificate(file string, ip net.IP) (tls.Certificate, []byte, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err == nil {
			return parseKept(file, data)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return tls.Certificate{}, nil, err
		}
	}
	cert, certPEM, err := newCertificate(ip)
	if err != nil || file == "" {
		return cert, certPEM, err
	}
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return cert, certPEM, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return cert, certPEM, writeFileAtomic(file, append(append([]byte{}, certPEM...), keyPEM...))
}

// parseKept reads a certificate and key written by certificate.
func parseKept(file string, data []byte) (tls.Certificate, []byte, error) {
	var certPEM, keyPEM []byte
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		enc := pem.EncodeToMemory(blk)
		if blk.Type == "CERTIFICATE" {
			certPEM = enc
		} else {
			keyPEM = enc
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return cert, nil, fmt.Errorf("-cert %s: %v", file, err)
	}
	return cert, certPEM, nil
}

// skipMorefs makes the simulator number the objects it makes from now on
// (VMs, tasks, ...) after start, as a restarted vCenter never hands out again
// a MoRef its inventory has used: -moref-start. The simulator keeps the
// counter unexported; it is set once, before the server starts.
func skipMorefs(start int64) {
	f := reflect.ValueOf(simulator.Map).Elem().FieldByName("counter")
	if !f.IsValid() || f.Kind() != reflect.Int64 {
		log.Fatal("-moref-start: this simulator has no Registry.counter")
	}
	p := (*int64)(unsafe.Pointer(f.UnsafeAddr()))
	if *p < start {
		*p = start
	}
}
