package main

// SOAP plumbing for the methods the launcher answers itself: peeking at a
// request, running a request through the simulator into a buffer, and
// encoding replies and faults in the same shape as the simulator's own
// (simulator.Service.ServeSDK): an envelope with the soapenv prefix and the
// soapenc/soapenv/xsd/xsi namespace declarations; a fault is HTTP 500 with
// soapenv:Fault > faultcode ServerFaultCode, faultstring and
// detail > <XFault xmlns="urn:vim25" xsi:type="X">.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// peekCall returns the method element name and its _this reference without
// decoding the whole body (a CreateVM_Task spec, say). Empty on any error.
func peekCall(body []byte) (method string, this types.ManagedObjectReference) {
	d := xml.NewDecoder(bytes.NewReader(body))
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return "", this
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch {
		case !inBody:
			inBody = start.Name.Local == "Body"
		case method == "":
			method = start.Name.Local
		default: // first child of the method element
			if start.Name.Local != "_this" {
				return method, this
			}
			for _, a := range start.Attr {
				if a.Name.Local == "type" && a.Name.Space == "" {
					this.Type = a.Value
				}
			}
			var v string
			if d.DecodeElement(&v, &start) == nil {
				this.Value = strings.TrimSpace(v)
			}
			return method, this
		}
	}
}

var vimType = types.TypeFunc()

// typeFunc resolves xsi:type names for decoding, like the simulator's own:
// a prefixed name ("vim25:Foo") that is not known as such is tried unprefixed.
func typeFunc(name string) (reflect.Type, bool) {
	if t, ok := vimType(name); ok {
		return t, ok
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return vimType(name[i+1:])
	}
	return nil, false
}

// decodeCall decodes a request body into its vim25 request type (*types.AnswerVM ...).
func decodeCall(body []byte) (interface{}, error) {
	m, err := simulator.UnmarshalBody(typeFunc, body)
	if err != nil {
		return nil, err
	}
	return m.Body, nil
}

// forward runs a SOAP request with the given body through the simulator
// (same cookies, so the same session checks) and returns its recorded reply.
func (p *peer) forward(r *http.Request, body []byte) *httptest.ResponseRecorder {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	rec := httptest.NewRecorder()
	p.svc.ServeSDK(rec, r2)
	return rec
}

// relay copies a recorded reply to w, with body in place of the recorded one.
func relay(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// isMethodNotFound: the simulator accepted the session and found _this, but
// has no such method (what it answers for AnswerVM and CancelTask).
func isMethodNotFound(rec *httptest.ResponseRecorder) bool {
	return rec.Code == http.StatusInternalServerError &&
		bytes.Contains(rec.Body.Bytes(), []byte(`xsi:type="MethodNotFound"`))
}

// returnTask finds the Task a *_Task reply returns, as the simulator writes it.
var returnTask = regexp.MustCompile(`<returnval type="Task">([^<]+)</returnval>`)

// probeBody is a request for AnswerVM on ref: the simulator lacks that method,
// so its reply tells whether the caller's session is valid and ref exists
// (MethodNotFound) or not (NotAuthenticated, ManagedObjectNotFound).
func probeBody(ref types.ManagedObjectReference) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><AnswerVM xmlns="urn:vim25"><_this type="`)
	_ = xml.EscapeText(&b, []byte(ref.Type))
	b.WriteString(`">`)
	_ = xml.EscapeText(&b, []byte(ref.Value))
	b.WriteString(`</_this><questionId>probe</questionId><answerChoice>probe</answerChoice></AnswerVM></soapenv:Body></soapenv:Envelope>`)
	return b.Bytes()
}

// Envelope, body and fault layout of the simulator's replies.
type replyEnvelope struct {
	XMLName xml.Name    `xml:"soapenv:Envelope"`
	Enc     string      `xml:"xmlns:soapenc,attr"`
	Env     string      `xml:"xmlns:soapenv,attr"`
	XSD     string      `xml:"xmlns:xsd,attr"`
	XSI     string      `xml:"xmlns:xsi,attr"`
	Body    interface{} `xml:"soapenv:Body"`
}

type replyFault struct {
	XMLName xml.Name `xml:"soapenv:Fault"`
	Code    string   `xml:"faultcode"`
	String  string   `xml:"faultstring"`
	Detail  struct {
		Fault faultElement
	} `xml:"detail"`
}

// faultElement encodes a MethodFault as <XFault xmlns="urn:vim25" xsi:type="X">.
type faultElement struct{ fault types.BaseMethodFault }

func (f faultElement) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	kind := reflect.TypeOf(f.fault).Elem().Name()
	start.Name = xml.Name{Local: kind + "Fault"}
	start.Attr = append(start.Attr,
		xml.Attr{Name: xml.Name{Local: "xmlns"}, Value: "urn:" + vim25.Namespace},
		xml.Attr{Name: xml.Name{Local: "xsi:type"}, Value: kind})
	return e.EncodeElement(f.fault, start)
}

// resultElement encodes a method's response (*types.AnswerVMResponse ...) as
// the content of soapenv:Body, named after its type in the urn:vim25 namespace.
type resultElement struct{ res interface{} }

func (r resultElement) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	name := xml.Name{Space: "urn:" + vim25.Namespace, Local: reflect.TypeOf(r.res).Elem().Name()}
	if err := e.EncodeElement(r.res, xml.StartElement{Name: name}); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

// encodeEnvelope encodes a SOAP envelope with body as the content of
// soapenv:Body: a reply, or a request (*methods.XBody{Req: ...}) to pass on
// to the simulator.
func encodeEnvelope(body interface{}) ([]byte, error) {
	var out bytes.Buffer
	out.WriteString(xml.Header)
	enc := xml.NewEncoder(&out)
	err := enc.Encode(&replyEnvelope{
		Enc:  "http://schemas.xmlsoap.org/soap/encoding/",
		Env:  "http://schemas.xmlsoap.org/soap/envelope/",
		XSD:  "http://www.w3.org/2001/XMLSchema",
		XSI:  "http://www.w3.org/2001/XMLSchema-instance",
		Body: body,
	})
	if err == nil {
		err = enc.Flush()
	}
	return out.Bytes(), err
}

func writeEnvelope(w http.ResponseWriter, code int, body interface{}) {
	out, err := encodeEnvelope(body)
	if err != nil {
		http.Error(w, fmt.Sprintf("encoding reply: %v", err), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(code)
	_, _ = w.Write(out)
}

// writeResult writes a successful reply; res is the method's *XResponse.
func writeResult(w http.ResponseWriter, res interface{}) {
	writeEnvelope(w, http.StatusOK, resultElement{res})
}

// writeFault writes a SOAP fault built the simulator's way (simulator.Fault).
func writeFault(w http.ResponseWriter, msg string, fault types.BaseMethodFault) {
	f := simulator.Fault(msg, fault)
	body := struct{ Fault *replyFault }{&replyFault{Code: f.Code, String: f.String}}
	body.Fault.Detail.Fault = faultElement{fault}
	writeEnvelope(w, http.StatusInternalServerError, body)
}

// faultOf extracts the MethodFault from an error of an in-process call.
func faultOf(err error) (types.BaseMethodFault, string) {
	if soap.IsSoapFault(err) {
		f := soap.ToSoapFault(err)
		if mf, ok := f.VimFault().(types.BaseMethodFault); ok {
			return mf, f.String
		}
	}
	return &types.SystemError{Reason: err.Error()}, err.Error()
}
