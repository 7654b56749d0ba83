package main

// Asynchronous tasks and VM questions, which the simulator lacks (its tasks
// are complete when the *_Task reply is sent; it has no AnswerVM or
// CancelTask). See the package comment in main.go for the control endpoints.
//
// A held task is a Task object of our own (simulator.CreateTask, so it is a
// normal managed object that RetrievePropertiesEx and property filters see)
// whose info we move from running to its final state with Map.Update, which
// notifies the property collectors (WaitForUpdatesEx wakes up). For
// /ctl/async the simulator runs the method as usual; its own task, already
// complete, is taken off the inventory and our running task is returned in
// its place, then gets its result or fault after the delay. (Holding back the
// simulator's own task instead would leave its "success" update queued in
// property collectors that already listen, delivered to any filter on it
// created afterwards.) The method's effects are therefore immediate: the
// VM's power state, the new VM, the reconfiguration are visible while the
// task still says running.

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// asyncRule: calls of one SOAP method return a task held for delay.
type asyncRule struct {
	delay time.Duration
	count int    // calls left; < 0: until cleared
	moid  string // only calls on this _this value; "": any
}

// questionSpec is a question to raise on a VM.
type questionSpec struct {
	id      string // "": generated
	text    string
	choices []string
	def     int // index of the default choice, the one that lets the task go on
}

// outcome is how a held task ends.
type outcome struct {
	result    types.AnyType
	fault     types.BaseMethodFault // nil: success
	message   string                // localizedMessage of the fault
	cancelled bool
}

// heldTask is a task whose final state the launcher applies later.
type heldTask struct {
	task    *simulator.Task
	method  string // SOAP method that returned it
	entity  types.ManagedObjectReference
	due     time.Time      // end of the delay (zero: none)
	waiting bool           // delay not over yet
	timers  [2]*time.Timer // delay end, half-way progress update
	final   *outcome       // the result to apply; nil: call run
	run     func() outcome // deferred work (the power-on a question blocks)
	q       *vmQuestion    // question blocking it, or nil
}

// vmQuestion is a question raised on a VM (its runtime.question).
type vmQuestion struct {
	vm   types.ManagedObjectReference
	info types.VirtualMachineQuestionInfo
	def  string    // key of the choice that lets the task go on
	task *heldTask // task it blocks, or nil
}

func (h *heldTask) id() string { return h.task.Self.Value }

func (h *heldTask) stopTimers() {
	for _, t := range h.timers {
		if t != nil {
			t.Stop()
		}
	}
}

func vmRef(moid string) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}
}

// interceptFor tells serveSDK whether body may be a call the launcher handles;
// a cheap test so that other calls are not parsed twice.
func (p *peer) interceptFor(body []byte) bool {
	if bytes.Contains(body, []byte("AnswerVM")) || bytes.Contains(body, []byte("CancelTask")) ||
		bytes.Contains(body, []byte("RebootGuest")) || bytes.Contains(body, []byte("PortGroup")) ||
		bytes.Contains(body, []byte("ReconfigVM_Task")) || bytes.Contains(body, []byte("CreateVM_Task")) ||
		bytes.Contains(body, []byte("ExtendVirtualDisk_Task")) ||
		bytes.Contains(body, []byte("CopyVirtualDisk_Task")) ||
		bytes.Contains(body, []byte("ExportVm")) || bytes.Contains(body, []byte("CloneVM_Task")) ||
		bytes.Contains(body, []byte("AttachDisk_Task")) || bytes.Contains(body, []byte("DetachDisk_Task")) ||
		bytes.Contains(body, []byte("Destroy_Task")) {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.armed) > 0 && bytes.Contains(body, []byte("PowerOnVM_Task")) {
		return true
	}
	for m := range p.async {
		if bytes.Contains(body, []byte(m)) {
			return true
		}
	}
	return false
}

// intercept handles the call if it is one of ours; false: not handled.
func (p *peer) intercept(w http.ResponseWriter, r *http.Request, body []byte) bool {
	method, this := peekCall(body)
	switch method {
	case "":
		return false
	case "AnswerVM":
		p.answerVM(w, r, body)
		return true
	case "CancelTask":
		p.cancelTask(w, r, body)
		return true
	case "RebootGuest":
		p.rebootGuest(w, r, this)
		return true
	case "AddPortGroup", "RemovePortGroup":
		p.networkSystemCall(w, r, body, method, this)
		return true
	case "ExtendVirtualDisk_Task":
		p.extendVirtualDiskCall(w, r, body, method, this)
		return true
	case "ExportVm":
		p.exportVmCall(w, r, this)
		return true
	case "CloneVM_Task":
		if !p.asyncFor(method, this) && p.cloneVmCall(w, r, body, this) {
			return true
		}
	case "CopyVirtualDisk_Task":
		if p.copySparseCall(w, r, body, this) {
			return true
		}
	case "ReconfigVM_Task", "CreateVM_Task":
		if p.existingDiskCall(w, r, body, method, this) { // volume.go
			return true
		}
		if p.nicCall(w, r, body, method, this) {
			return true
		}
	case "AttachDisk_Task", "DetachDisk_Task":
		p.fcdCall(w, r, body, method, this) // volume.go
		return true
	case "Destroy_Task":
		if p.destroyCall(w, r, body, method, this) { // volume.go
			return true
		}
	}
	p.mu.Lock()
	_, armed := p.armed[this.Value]
	p.mu.Unlock()
	if method == "PowerOnVM_Task" && this.Type == "VirtualMachine" && armed && p.powerOnWithQuestion(w, r, this) {
		return true
	}
	if p.asyncFor(method, this) {
		p.asyncCall(w, r, body, method, this, nil)
		return true
	}
	return false
}

// forwardThen hands a *_Task call to the simulator, under an async rule
// when one applies, and runs after on the simulator's answer before the
// client gets it.
func (p *peer) forwardThen(w http.ResponseWriter, r *http.Request, body []byte, method string,
	this types.ManagedObjectReference, after func(*httptest.ResponseRecorder)) {
	if p.asyncFor(method, this) {
		p.asyncCall(w, r, body, method, this, after)
		return
	}
	rec := p.forward(r, body)
	after(rec)
	relay(w, rec, rec.Body.Bytes())
}

// asyncFor tells whether an async rule applies to a call of method on this.
func (p *peer) asyncFor(method string, this types.ManagedObjectReference) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	rule, async := p.async[method]
	return async && (rule.moid == "" || rule.moid == this.Value)
}

// takeAsync uses up one call of the async rule for a call of method on
// this: its delay, or false if none applies. Called with p.mu held.
func (p *peer) takeAsync(method string, this types.ManagedObjectReference) (time.Duration, bool) {
	rule, ok := p.async[method]
	if p.closed || !ok || (rule.moid != "" && rule.moid != this.Value) {
		return 0, false
	}
	if rule.count > 0 {
		rule.count--
		if rule.count == 0 {
			delete(p.async, method)
		} else {
			p.async[method] = rule
		}
	}
	return rule.delay, true
}

// taskInfo copies a task's info under its lock.
func taskInfo(t *simulator.Task) types.TaskInfo {
	var info types.TaskInfo
	simulator.Map.WithLock(t, func() { info = t.Info })
	return info
}

func outcomeOf(info types.TaskInfo) outcome {
	if info.Error != nil {
		return outcome{fault: info.Error.Fault, message: info.Error.LocalizedMessage}
	}
	return outcome{result: info.Result}
}

// newTask creates a running, cancelable task described like info.
func newTask(entity types.ManagedObjectReference, name string, like *types.TaskInfo) *simulator.Task {
	t := simulator.CreateTask(entity, name, nil)
	simulator.Map.WithLock(t, func() {
		now := time.Now()
		if like != nil {
			t.Info.Name = like.Name
			t.Info.DescriptionId = like.DescriptionId
			t.Info.EntityName = like.EntityName
			t.Info.Reason = like.Reason
			t.Info.QueueTime = like.QueueTime
		}
		t.Info.StartTime = &now
		t.Info.State = types.TaskInfoStateRunning
		t.Info.Cancelable = true
	})
	return t
}

// dropTask removes a (finished) simulator task from the inventory and from
// TaskManager.recentTask: the client only ever sees the held one.
func dropTask(ref types.ManagedObjectReference) {
	if si, ok := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance); ok && si.Content.TaskManager != nil {
		if tm, ok := simulator.Map.Get(*si.Content.TaskManager).(*simulator.TaskManager); ok {
			simulator.Map.WithLock(tm, func() {
				var list []types.ManagedObjectReference
				for _, r := range tm.RecentTask {
					if r != ref {
						list = append(list, r)
					}
				}
				simulator.Map.Update(tm, []types.PropertyChange{{Name: "recentTask", Val: list}})
			})
		}
	}
	simulator.Map.Remove(ref)
}

// complete applies the final state of a held task that was already removed
// from p.held (so exactly once). oc nil: run the deferred work first.
func (p *peer) complete(h *heldTask, oc *outcome) {
	if oc == nil {
		o := h.run()
		oc = &o
	}
	var result, fault interface{} // untyped nil: property unset
	state := types.TaskInfoStateSuccess
	if oc.fault != nil {
		state = types.TaskInfoStateError
		fault = &types.LocalizedMethodFault{Fault: oc.fault, LocalizedMessage: oc.message}
	} else if oc.result != nil {
		result = oc.result
	}
	changes := []types.PropertyChange{
		{Name: "info.completeTime", Val: time.Now()},
		{Name: "info.state", Val: state},
		{Name: "info.result", Val: result},
		{Name: "info.error", Val: fault},
		{Name: "info.cancelable", Val: false},
	}
	if state == types.TaskInfoStateSuccess {
		changes = append(changes, types.PropertyChange{Name: "info.progress", Val: int32(100)})
	}
	if oc.cancelled {
		changes = append(changes, types.PropertyChange{Name: "info.cancelled", Val: true})
	}
	simulator.Map.WithLock(h.task, func() { simulator.Map.Update(h.task, changes) })
	log.Printf("held %s %s (%s): %s", h.id(), h.method, h.entity.Value, state)
}

// setQuestion sets (q non-nil) or clears a VM's runtime.question and
// summary.runtime.question. Called with p.mu held, so that raising and
// clearing happen in the order of our own bookkeeping.
func setQuestion(vm types.ManagedObjectReference, q *types.VirtualMachineQuestionInfo) {
	obj := simulator.Map.Get(vm)
	if obj == nil {
		return // destroyed meanwhile
	}
	var val interface{} // untyped nil: unset
	if q != nil {
		c := *q
		val = &c
	}
	simulator.Map.WithLock(obj, func() {
		simulator.Map.Update(obj, []types.PropertyChange{
			{Name: "runtime.question", Val: val},
			{Name: "summary.runtime.question", Val: val},
		})
	})
}

// hold registers h and starts its delay (if any). Called with p.mu held.
func (p *peer) hold(h *heldTask, delay time.Duration) {
	p.held[h.id()] = h
	if delay <= 0 {
		return
	}
	h.waiting = true
	h.due = time.Now().Add(delay)
	h.timers[0] = time.AfterFunc(delay, func() { p.delayOver(h) })
	h.timers[1] = time.AfterFunc(delay/2, func() {
		p.mu.Lock()
		defer p.mu.Unlock() // held while updating, so this never lands after the final state
		if !p.closed && p.held[h.id()] == h && h.waiting {
			simulator.Map.WithLock(h.task, func() {
				simulator.Map.Update(h.task, []types.PropertyChange{{Name: "info.progress", Val: int32(50)}})
			})
		}
	})
}

func (p *peer) delayOver(h *heldTask) {
	p.mu.Lock()
	if p.closed || p.held[h.id()] != h {
		p.mu.Unlock()
		return
	}
	h.waiting = false
	if h.q != nil { // the question's answer completes it
		p.mu.Unlock()
		return
	}
	delete(p.held, h.id())
	p.mu.Unlock()
	p.complete(h, h.final)
}

// asyncCall runs a *_Task method in the simulator and returns a held task in
// place of the simulator's finished one. after (if not nil) gets the
// simulator's reply first.
func (p *peer) asyncCall(w http.ResponseWriter, r *http.Request, body []byte, method string, this types.ManagedObjectReference,
	after func(*httptest.ResponseRecorder)) {
	rec := p.forward(r, body)
	if after != nil {
		after(rec)
	}
	out := rec.Body.Bytes()
	m := returnTask.FindSubmatch(out)
	if rec.Code != http.StatusOK || m == nil {
		relay(w, rec, out) // a fault, or not a task
		return
	}
	innerRef := types.ManagedObjectReference{Type: "Task", Value: string(m[1])}
	inner, ok := simulator.Map.Get(innerRef).(*simulator.Task)
	if !ok {
		relay(w, rec, out)
		return
	}
	info := taskInfo(inner)
	if info.State != types.TaskInfoStateSuccess && info.State != types.TaskInfoStateError {
		relay(w, rec, out)
		return
	}

	p.mu.Lock()
	delay, ok := p.takeAsync(method, this)
	if !ok {
		p.mu.Unlock()
		relay(w, rec, out) // cleared meanwhile
		return
	}
	entity := this
	if info.Entity != nil {
		entity = *info.Entity
	}
	oc := outcomeOf(info)
	h := &heldTask{task: newTask(entity, "held", &info), method: method, entity: entity, final: &oc}
	dropTask(innerRef)
	p.hold(h, delay)
	p.mu.Unlock()
	log.Printf("held %s %s (%s) for %v in place of %s", h.id(), method, entity.Value, delay, innerRef.Value)
	repl := []byte(`<returnval type="Task">` + h.id() + `</returnval>`)
	relay(w, rec, bytes.Replace(out, m[0], repl, 1))
}

// powerOnWithQuestion answers PowerOnVM_Task on a VM with an armed question:
// a running task, and the question on the VM; the power-on itself is done
// when the question is answered with the default choice. false: not handled
// (the simulator's own checks apply: templates, disabled method).
func (p *peer) powerOnWithQuestion(w http.ResponseWriter, r *http.Request, vm types.ManagedObjectReference) bool {
	obj, ok := simulator.Map.Get(vm).(*simulator.VirtualMachine)
	if !ok {
		return false
	}
	var template, disabled bool
	simulator.Map.WithLock(obj, func() {
		template = obj.Config != nil && obj.Config.Template
		for _, m := range obj.DisabledMethod {
			disabled = disabled || m == "PowerOnVMTask"
		}
	})
	if template || disabled {
		return false
	}
	if probe := p.forward(r, probeBody(vm)); !isMethodNotFound(probe) {
		relay(w, probe, probe.Body.Bytes()) // not logged in, say
		return true
	}

	p.mu.Lock()
	spec, ok := p.armed[vm.Value]
	if !ok || p.questions[vm.Value] != nil || p.closed {
		p.mu.Unlock()
		return false
	}
	delete(p.armed, vm.Value)
	h := &heldTask{
		task:   newTask(vm, "powerOn", nil), // named as the simulator names its power-on tasks
		method: "PowerOnVM_Task",
		entity: vm,
		run:    func() outcome { return p.powerOn(vm) },
	}
	p.hold(h, 0)
	p.raise(vm, spec, h)
	p.mu.Unlock()
	writeResult(w, &types.PowerOnVM_TaskResponse{Returnval: h.task.Self})
	return true
}

// powerOn powers a VM on through the simulator (in process, internal
// session) and returns the outcome of its task.
func (p *peer) powerOn(vm types.ManagedObjectReference) outcome {
	res, err := methods.PowerOnVM_Task(context.Background(), p.svc, &types.PowerOnVM_Task{This: vm})
	if err != nil {
		return taskOutcome(types.ManagedObjectReference{}, err)
	}
	return taskOutcome(res.Returnval, nil)
}

// taskOutcome is the outcome of an in-process call that returned the task
// ref (or failed with err): the task's result or fault; the simulator's
// finished task is dropped.
func taskOutcome(ref types.ManagedObjectReference, err error) outcome {
	if err != nil {
		f, msg := faultOf(err)
		return outcome{fault: f, message: msg}
	}
	t, ok := simulator.Map.Get(ref).(*simulator.Task)
	if !ok {
		return outcome{}
	}
	oc := outcomeOf(taskInfo(t))
	dropTask(ref)
	return oc
}

// raise puts a question on a VM, blocking h (may be nil). Called with p.mu held.
func (p *peer) raise(vm types.ManagedObjectReference, spec questionSpec, h *heldTask) *vmQuestion {
	id := spec.id
	if id == "" {
		p.qseq++
		id = "_vmx" + strconv.Itoa(p.qseq)
	}
	q := &vmQuestion{vm: vm, task: h, def: strconv.Itoa(spec.def)}
	q.info = types.VirtualMachineQuestionInfo{Id: id, Text: spec.text}
	q.info.Choice.DefaultIndex = int32(spec.def)
	for i, label := range spec.choices {
		q.info.Choice.ChoiceInfo = append(q.info.Choice.ChoiceInfo, &types.ElementDescription{
			Description: types.Description{Label: label, Summary: label},
			Key:         strconv.Itoa(i),
		})
	}
	p.questions[vm.Value] = q
	if h != nil {
		h.q = q
	}
	setQuestion(vm, &q.info)
	log.Printf("question %s on %s: %q %v (default %d)", id, vm.Value, spec.text, spec.choices, spec.def)
	return q
}

// answerVM implements VirtualMachine.AnswerVM.
func (p *peer) answerVM(w http.ResponseWriter, r *http.Request, body []byte) {
	probe := p.forward(r, body) // session and _this checks, by the simulator
	req, _ := decodeCall(body)
	a, ok := req.(*types.AnswerVM)
	if !isMethodNotFound(probe) || !ok || a.This.Type != "VirtualMachine" {
		relay(w, probe, probe.Body.Bytes())
		return
	}

	p.mu.Lock()
	q := p.questions[a.This.Value]
	if q == nil || q.info.Id != a.QuestionId {
		p.mu.Unlock()
		msg := fmt.Sprintf("no question %s pending on %s: answered already, or never asked", a.QuestionId, a.This.Value)
		if q != nil {
			msg = fmt.Sprintf("question %s is not pending on %s (pending: %s)", a.QuestionId, a.This.Value, q.info.Id)
		}
		writeFault(w, msg, &types.ConcurrentAccess{})
		return
	}
	label := ""
	var keys []string
	for _, c := range q.info.Choice.ChoiceInfo {
		d := c.GetElementDescription()
		keys = append(keys, d.Key)
		if d.Key == a.AnswerChoice {
			label = d.Label
		}
	}
	if label == "" {
		p.mu.Unlock()
		msg := fmt.Sprintf("answerChoice %s is not a choice of question %s (keys: %s)", a.AnswerChoice, q.info.Id, strings.Join(keys, ", "))
		writeFault(w, msg, &types.InvalidArgument{InvalidProperty: "answerChoice"})
		return
	}
	delete(p.questions, a.This.Value)
	setQuestion(a.This, nil)
	var done *heldTask
	var oc *outcome
	if h := q.task; h != nil && p.held[h.id()] == h {
		h.q = nil
		switch {
		case a.AnswerChoice != q.def:
			msg := fmt.Sprintf("question %s on %s answered with choice %s (%s): %s not continued", q.info.Id, a.This.Value, a.AnswerChoice, label, h.method)
			done, oc = h, &outcome{fault: &types.SystemError{Reason: msg}, message: msg}
		case !h.waiting:
			done, oc = h, h.final
		}
		if done != nil {
			delete(p.held, h.id())
			h.stopTimers()
		}
	}
	p.mu.Unlock()
	log.Printf("question %s on %s answered %q (%s)", q.info.Id, a.This.Value, a.AnswerChoice, label)
	if done != nil {
		p.complete(done, oc)
	}
	writeResult(w, &types.AnswerVMResponse{})
}

// cancelTask implements Task.CancelTask for held tasks: they end in error
// with RequestCanceled (and cancelled set), and a question blocking the task
// is withdrawn. What the method already did is not undone.
func (p *peer) cancelTask(w http.ResponseWriter, r *http.Request, body []byte) {
	probe := p.forward(r, body)
	req, _ := decodeCall(body)
	c, ok := req.(*types.CancelTask)
	if !isMethodNotFound(probe) || !ok {
		relay(w, probe, probe.Body.Bytes())
		return
	}
	p.mu.Lock()
	h := p.held[c.This.Value]
	if h != nil && h.task.Self == c.This {
		delete(p.held, h.id())
		h.stopTimers()
		if q := h.q; q != nil && p.questions[q.vm.Value] == q {
			delete(p.questions, q.vm.Value)
			setQuestion(q.vm, nil)
		}
		p.mu.Unlock()
		p.complete(h, &outcome{fault: &types.RequestCanceled{}, message: "The task was canceled by a user.", cancelled: true})
		writeResult(w, &types.CancelTaskResponse{})
		return
	}
	p.mu.Unlock()
	t, ok := simulator.Map.Get(c.This).(*simulator.Task)
	if !ok {
		relay(w, probe, probe.Body.Bytes())
		return
	}
	if state := taskInfo(t).State; state == types.TaskInfoStateSuccess || state == types.TaskInfoStateError {
		writeFault(w, fmt.Sprintf("%s has already completed (%s)", c.This.Value, state), &types.InvalidState{})
		return
	}
	writeFault(w, fmt.Sprintf("%s is not cancelable", c.This.Value), &types.NotSupported{})
}

// ctlAsync: POST /ctl/async?method=NAME&delay=DURATION[&count=N][&moid=MOID].
func (p *peer) ctlAsync(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	method := q.Get("method")
	if !strings.HasSuffix(method, "_Task") || strings.ContainsAny(method, "<>&\"' ") {
		http.Error(w, "method must be a SOAP task method such as PowerOffVM_Task", http.StatusBadRequest)
		return
	}
	delay, err := time.ParseDuration(q.Get("delay"))
	if err != nil || delay < 0 {
		http.Error(w, "delay must be a duration such as 1s or 0 (clear)", http.StatusBadRequest)
		return
	}
	rule := asyncRule{delay: delay, count: -1, moid: q.Get("moid")}
	if s := q.Get("count"); s != "" {
		if rule.count, err = strconv.Atoi(s); err != nil || rule.count < 1 {
			http.Error(w, "count must be a number >= 1", http.StatusBadRequest)
			return
		}
	}
	p.mu.Lock()
	if delay == 0 {
		delete(p.async, method)
	} else {
		p.async[method] = rule
	}
	p.mu.Unlock()
	ok(w)
}

// ctlQuestion: POST /ctl/question?vm=MOID[&text=T][&choices=A,B][&default=N][&id=ID][&now=1[&task=MOID]].
func (p *peer) ctlQuestion(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	vm := vmRef(q.Get("vm"))
	if _, ok := simulator.Map.Get(vm).(*simulator.VirtualMachine); !ok {
		http.Error(w, "no virtual machine "+q.Get("vm"), http.StatusNotFound)
		return
	}
	spec := questionSpec{id: q.Get("id"), text: q.Get("text"), choices: []string{"Yes", "No"}}
	if spec.text == "" {
		spec.text = "Question from the vcsim test peer: continue?"
	}
	if s := q.Get("choices"); s != "" {
		spec.choices = strings.Split(s, ",")
		for _, c := range spec.choices {
			if c == "" {
				http.Error(w, "choices must be non-empty labels separated by commas", http.StatusBadRequest)
				return
			}
		}
	}
	if s := q.Get("default"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n >= len(spec.choices) {
			http.Error(w, "default must be a choice index 0.."+strconv.Itoa(len(spec.choices)-1), http.StatusBadRequest)
			return
		}
		spec.def = n
	}
	now := q.Get("now") == "1"
	task := q.Get("task")
	if task != "" && !now {
		http.Error(w, "task needs now=1", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !now {
		p.armed[vm.Value] = spec
		ok(w)
		return
	}
	if old := p.questions[vm.Value]; old != nil {
		http.Error(w, fmt.Sprintf("%s already has question %s pending", vm.Value, old.info.Id), http.StatusConflict)
		return
	}
	var h *heldTask
	if task != "" {
		if h = p.held[task]; h == nil {
			http.Error(w, task+" is not a task held by the peer (see /ctl/async)", http.StatusNotFound)
			return
		}
		if h.q != nil {
			http.Error(w, fmt.Sprintf("%s is already blocked by question %s", task, h.q.info.Id), http.StatusConflict)
			return
		}
	}
	p.raise(vm, spec, h)
	ok(w)
}

// ctlReset: POST /ctl/reset. Clears async rules and armed questions,
// withdraws raised questions, and ends every held task now: with its real
// result, or RequestCanceled if a question blocked it.
func (p *peer) ctlReset(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.async = map[string]asyncRule{}
	p.stalls = map[string]*stallRule{}
	p.armed = map[string]questionSpec{}
	for _, q := range p.questions {
		setQuestion(q.vm, nil)
	}
	p.questions = map[string]*vmQuestion{}
	held := p.held
	p.held = map[string]*heldTask{}
	p.mu.Unlock()
	for _, h := range held {
		h.stopTimers()
		if h.q != nil || h.final == nil {
			p.complete(h, &outcome{fault: &types.RequestCanceled{}, message: "The task was canceled by a user.", cancelled: true})
		} else {
			p.complete(h, h.final)
		}
	}
	ok(w)
}

// ctlTasks: GET /ctl/tasks. One line per async rule, armed question, raised
// question and held task.
func (p *peer) ctlTasks(w http.ResponseWriter, r *http.Request) {
	var lines []string
	p.mu.Lock()
	for m, rule := range p.async {
		count, moid := "all", rule.moid
		if rule.count > 0 {
			count = strconv.Itoa(rule.count)
		}
		if moid == "" {
			moid = "any"
		}
		lines = append(lines, fmt.Sprintf("async %s delay=%v count=%s moid=%s", m, rule.delay, count, moid))
	}
	for m, d := range p.stalls {
		lines = append(lines, fmt.Sprintf("stall %s delay=%v count=%d match=%q", m, d.delay, d.count, d.match))
	}
	for m, n := range p.stalling {
		if n > 0 {
			lines = append(lines, fmt.Sprintf("stalling %s calls=%d", m, n))
		}
	}
	for vm, s := range p.armed {
		lines = append(lines, fmt.Sprintf("armed %s choices=%s default=%d text=%q", vm, strings.Join(s.choices, ","), s.def, s.text))
	}
	for vm, q := range p.questions {
		task := "-"
		if q.task != nil {
			task = q.task.id()
		}
		lines = append(lines, fmt.Sprintf("question %s id=%s task=%s", vm, q.info.Id, task))
	}
	for id, h := range p.held {
		left, question := "-", "-"
		if h.waiting {
			left = time.Until(h.due).Round(time.Millisecond).String()
		}
		if h.q != nil {
			question = h.q.info.Id
		}
		lines = append(lines, fmt.Sprintf("held %s %s entity=%s left=%s question=%s", id, h.method, h.entity.Value, left, question))
	}
	p.mu.Unlock()
	sort.Strings(lines)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// shutdown stops the timers of held tasks; nothing completes afterwards.
func (p *peer) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, h := range p.held {
		h.stopTimers()
	}
}

// rebootGuest answers RebootGuest, which the simulator lacks: the guest
// reboots in place, so the VM must be powered on and stays so (vSphere
// answers InvalidPowerState otherwise), and its tools must run
// (ToolsUnavailable otherwise; guest.go).
func (p *peer) rebootGuest(w http.ResponseWriter, r *http.Request, vm types.ManagedObjectReference) {
	if probe := p.forward(r, probeBody(vm)); !isMethodNotFound(probe) {
		relay(w, probe, probe.Body.Bytes()) // not logged in, no such VM
		return
	}
	obj, ok := simulator.Map.Get(vm).(*simulator.VirtualMachine)
	if !ok {
		writeFault(w, "", &types.ManagedObjectNotFound{Obj: vm})
		return
	}
	var state types.VirtualMachinePowerState
	simulator.Map.WithLock(obj, func() { state = obj.Runtime.PowerState })
	if state != types.VirtualMachinePowerStatePoweredOn {
		writeFault(w, "", &types.InvalidPowerState{
			RequestedState: types.VirtualMachinePowerStatePoweredOn,
			ExistingState:  state,
		})
		return
	}
	if !guestReboot(obj) { // guest.go
		writeFault(w, "", &types.ToolsUnavailable{})
		return
	}
	log.Printf("%s: guest reboot", vm.Value)
	writeResult(w, &types.RebootGuestResponse{})
}
