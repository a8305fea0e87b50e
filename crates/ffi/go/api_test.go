package nemorelay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain shuts the runtime down after every test, then checks that every
// user_data handle the binding created was released by the library.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		code = 1
	}
	if live := liveUserDataCount(); live != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "%d user_data handles were never released\n", live)
		code = 1
	}
	os.Exit(code)
}

// events collects event JSON through a named global subscriber.
type events struct {
	mu    sync.Mutex
	lines []string
}

func collect(t *testing.T, name string) *events {
	t.Helper()
	e := &events{}
	must(t, RegisterSubscriber(name, func(ev json.RawMessage) {
		e.mu.Lock()
		e.lines = append(e.lines, string(ev))
		e.mu.Unlock()
	}))
	t.Cleanup(func() { _, _ = Deregister(Subscribers, name); _ = Flush() })
	return e
}

func (e *events) count(t *testing.T, needle string) int {
	t.Helper()
	must(t, Flush())
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, l := range e.lines {
		if strings.Contains(l, needle) {
			n++
		}
	}
	return n
}

func newStack(t *testing.T) *Stack {
	t.Helper()
	s, err := NewStack()
	must(t, err)
	t.Cleanup(s.Close)
	return s
}

func TestScopesPopInOrderAndReportMisuseAsTypedErrors(t *testing.T) {
	s := newStack(t)
	outer, err := s.PushScope("outer", ScopeAgent, nil)
	must(t, err)
	inner, err := s.PushScope("inner", ScopeFunction, Options{"metadata": map[string]any{"k": 1}})
	must(t, err)
	if err := s.PopScope(outer, nil); !errors.Is(err, ErrScopeNotOnTop) {
		t.Fatalf("popping outer first: %v", err)
	}
	must(t, s.PopScope(inner, nil))
	if err := s.PopScope(inner, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("popping twice: %v", err)
	}
	must(t, s.PopScope(outer, nil))
	if len(outer.UUID()) != 36 {
		t.Fatalf("uuid %q", outer.UUID())
	}
	if _, err := s.PushScope("bad", ScopeType(999), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("scope type 999: %v", err)
	}
	if _, err := s.PushScope("bad", ScopeAgent, Options{"inptu": 1}); !errors.Is(err, ErrInvalidJSON) {
		t.Fatalf("unknown option: %v", err)
	}
	if _, err := s.PushScope("bad\x00", ScopeAgent, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL in name: %v", err)
	}
}

func TestToolCallsRunTheirMiddlewareInPipelineOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	log := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	must(t, RegisterGuard(ToolConditionalExecution, "order-guard", func(CallContext, json.RawMessage) (string, bool, error) {
		log("guard")
		return "", false, nil
	}))
	must(t, RegisterRewrite(ToolRequestIntercept, "order-request", func(_ CallContext, v json.RawMessage) (json.RawMessage, error) {
		log("request")
		return json.RawMessage(`{"rewritten":true}`), nil
	}))
	must(t, RegisterIntercept(ToolExecutionIntercept, "order-exec", func(ctx CallContext, req json.RawMessage, next Next) (json.RawMessage, error) {
		log("exec:" + ctx.Name)
		return next.Run(req)
	}))
	defer func() {
		_, _ = Deregister(ToolConditionalExecution, "order-guard")
		_, _ = Deregister(ToolRequestIntercept, "order-request")
		_, _ = Deregister(ToolExecutionIntercept, "order-exec")
	}()
	out, err := newStack(t).ToolCall("ordered", map[string]any{"x": 1}, nil, func(args json.RawMessage) (json.RawMessage, error) {
		log("tool:" + string(args))
		return json.RawMessage(`{"ok":true}`), nil
	})
	must(t, err)
	if string(out) != `{"ok":true}` {
		t.Fatalf("result %s", out)
	}
	want := []string{"guard", "request", "exec:ordered", `tool:{"rewritten":true}`}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

func TestCallbackErrorsAndPanicsBecomeCallbackFailed(t *testing.T) {
	s := newStack(t)
	_, err := s.ToolCall("fails", nil, nil, func(json.RawMessage) (json.RawMessage, error) {
		return nil, errors.New("tool exploded")
	})
	if !errors.Is(err, ErrCallbackFailed) || !strings.Contains(err.Error(), "tool exploded") {
		t.Fatalf("error: %v", err)
	}
	_, err = s.ToolCall("panics", nil, nil, func(json.RawMessage) (json.RawMessage, error) {
		panic("go panic inside a tool")
	})
	if !errors.Is(err, ErrCallbackFailed) || !strings.Contains(err.Error(), "go panic inside a tool") {
		t.Fatalf("panic: %v", err)
	}
}

func TestAContinuationKeptPastItsInterceptIsExpired(t *testing.T) {
	var kept Next
	must(t, RegisterIntercept(ToolExecutionIntercept, "keeper", func(_ CallContext, req json.RawMessage, next Next) (json.RawMessage, error) {
		kept = next
		return next.Run(req)
	}))
	defer Deregister(ToolExecutionIntercept, "keeper")
	_, err := newStack(t).ToolCall("kept", nil, nil, func(json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`1`), nil
	})
	must(t, err)
	if _, err := kept.Run(json.RawMessage(`{}`)); !errors.Is(err, ErrContinuationExpired) {
		t.Fatalf("stale next: %v", err)
	}
}

func TestDoubleRegistrationFailsAndReleasesTheSecondCallback(t *testing.T) {
	before := liveUserDataCount()
	guard := func(CallContext, json.RawMessage) (string, bool, error) { return "", false, nil }
	must(t, RegisterGuard(LLMConditionalExecution, "dup", guard))
	if err := RegisterGuard(LLMConditionalExecution, "dup", guard); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second registration: %v", err)
	}
	if err := RegisterGuard(Subscribers, "wrong-shape", guard); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("wrong family: %v", err)
	}
	if got := liveUserDataCount(); got != before+1 {
		t.Fatalf("live handles %d, want %d", got, before+1)
	}
	removed, err := Deregister(LLMConditionalExecution, "dup")
	must(t, err)
	if !removed || liveUserDataCount() != before {
		t.Fatalf("removed=%v live=%d", removed, liveUserDataCount())
	}
}

func TestALibraryErrorACallbackHandsBackReachesTheCallerUnchanged(t *testing.T) {
	s := newStack(t)
	no := func(ctx CallContext, _ json.RawMessage) (string, bool, error) { return "no", ctx.Name == "inner", nil }
	must(t, RegisterGuard(ToolConditionalExecution, "no-inner", no))
	defer func() { _, _ = Deregister(ToolConditionalExecution, "no-inner") }()
	outer := func(json.RawMessage) (json.RawMessage, error) {
		var current *Stack // nil: the thread's current stack, inside the call
		return current.ToolCall("inner", nil, nil, func(a json.RawMessage) (json.RawMessage, error) { return a, nil })
	}
	_, err := s.ToolCall("outer", nil, nil, outer)
	if !errors.Is(err, ErrGuardrailRejected) || strings.Contains(err.Error(), "callback failed") {
		t.Fatalf("outer: %v", err)
	}
}

func TestFlushTimeoutWaitsForAHeldSubscriberOnlyAsLongAsAsked(t *testing.T) {
	release := make(chan struct{})
	must(t, RegisterSubscriber("held", func(json.RawMessage) { <-release }))
	defer func() { _, _ = Deregister(Subscribers, "held") }()
	must(t, newStack(t).Mark("m", nil))
	if err := FlushTimeout(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("held: %v", err)
	}
	close(release)
	must(t, FlushTimeout(5*time.Second))
	if err := FlushTimeout(-time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative: %v", err)
	}
}

func TestAClosedOwnerScopeIsRefusedNotTakenForGlobal(t *testing.T) {
	s := newStack(t)
	session, err := s.PushScope("session", ScopeAgent, nil)
	must(t, err)
	defer func() { _ = s.PopScope(session, nil) }()
	closed := &Scope{ptr: session.ptr, uuid: session.uuid}
	closed.ptr = nil // as Close leaves it
	deny := func(CallContext, json.RawMessage) (string, bool, error) { return "no", true, nil }
	if err := RegisterGuard(ToolConditionalExecution, "closed-owner", deny, OwnedBy(s, closed)); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("register: %v", err)
	}
	if _, err := Deregister(ToolConditionalExecution, "closed-owner", OwnedBy(s, closed)); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("deregister: %v", err)
	}
	if names, err := Registrations(ToolConditionalExecution); err != nil || len(names) != 0 {
		t.Fatalf("global registrations: %v %v", names, err)
	}
}

func TestScopeLocalGuardrailsVanishWithTheirScope(t *testing.T) {
	s := newStack(t)
	session, err := s.PushScope("session", ScopeAgent, nil)
	must(t, err)
	deny := func(CallContext, json.RawMessage) (string, bool, error) { return "not here", true, nil }
	must(t, RegisterGuard(ToolConditionalExecution, "local", deny, OwnedBy(s, session)))
	tool := func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(`1`), nil }
	if _, err := s.ToolCall("t", nil, nil, tool); !errors.Is(err, ErrGuardrailRejected) {
		t.Fatalf("inside the scope: %v", err)
	}
	must(t, s.PopScope(session, nil))
	if _, err := s.ToolCall("t", nil, nil, tool); err != nil {
		t.Fatalf("after pop: %v", err)
	}
}

func TestAStreamingCallYieldsChunksAndRecordsTheAggregate(t *testing.T) {
	ev := collect(t, "stream-events")
	st, err := newStack(t).LLMStream("streamed", map[string]any{"content": "hi"}, nil,
		func(_ json.RawMessage, i uint64) (json.RawMessage, bool, error) {
			if i == 3 {
				return nil, false, nil
			}
			return json.RawMessage(fmt.Sprintf(`{"delta":%d}`, i)), true, nil
		})
	must(t, err)
	defer st.Close()
	var got []string
	for {
		chunk, ok, err := st.Next()
		must(t, err)
		if !ok {
			break
		}
		got = append(got, string(chunk))
	}
	if strings.Join(got, ",") != `{"delta":0},{"delta":1},{"delta":2}` {
		t.Fatalf("chunks %v", got)
	}
	if n := ev.count(t, `"chunks":[{"delta":0},{"delta":1},{"delta":2}]`); n != 1 {
		t.Fatalf("aggregate end events: %d", n)
	}
}

func TestClosingAStreamFromAnotherGoroutineWhileItIsReadEndsItCleanly(t *testing.T) {
	s := newStack(t)
	for iter := 0; iter < 40; iter++ {
		st, err := s.LLMStream("slow", map[string]any{"content": "x"}, nil,
			func(_ json.RawMessage, i uint64) (json.RawMessage, bool, error) {
				time.Sleep(time.Millisecond)
				return json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), true, nil
			})
		must(t, err)
		done := make(chan error, 1)
		go func() {
			for {
				_, ok, err := st.Next()
				if err != nil || !ok {
					done <- err
					return
				}
			}
		}()
		time.Sleep(3 * time.Millisecond)
		st.Close()
		must(t, <-done)
		if _, ok, err := st.Next(); ok || err != nil {
			t.Fatalf("after Close: ok=%v err=%v", ok, err)
		}
	}
}

func TestAClosedStackIsAnErrorNotTheThreadsStack(t *testing.T) {
	s, err := NewStack()
	must(t, err)
	agent, err := s.PushScope("agent", ScopeAgent, nil)
	must(t, err)
	s.Close()
	tool := func(r json.RawMessage) (json.RawMessage, error) { return r, nil }
	_, pushErr := s.PushScope("late", ScopeFunction, nil)
	_, callErr := s.ToolCall("late", 1, nil, tool)
	owned := RegisterSubscriber("late", func(json.RawMessage) {}, OwnedBy(s, agent))
	for _, err := range []error{pushErr, s.Mark("late", nil), callErr, owned} {
		if !errors.Is(err, ErrInvalidState) {
			t.Fatalf("want ErrInvalidState, got %v", err)
		}
	}
}

func TestACallbackReturningANilRawMessageAnswersNull(t *testing.T) {
	s := newStack(t)
	nothing := func(json.RawMessage) (json.RawMessage, error) { return nil, nil }
	for _, run := range []func() (json.RawMessage, error){
		func() (json.RawMessage, error) { return s.ToolCall("void", 1, nil, nothing) },
		func() (json.RawMessage, error) {
			return s.LLMCall("void", map[string]any{"content": "x"}, nil, nothing)
		},
	} {
		out, err := run()
		must(t, err)
		if string(out) != "null" {
			t.Fatalf("got %s", out)
		}
	}
}

func TestAnInterceptHandingBackNextsErrorReportsItsMessageNotItsRendering(t *testing.T) {
	must(t, RegisterIntercept(ToolExecutionIntercept, "pass-error", func(_ CallContext, req json.RawMessage, next Next) (json.RawMessage, error) {
		return next.Run(req)
	}))
	defer Deregister(ToolExecutionIntercept, "pass-error")
	_, err := newStack(t).ToolCall("fails", 1, nil, func(json.RawMessage) (json.RawMessage, error) {
		return nil, errors.New("disk full")
	})
	msg := fmt.Sprint(err)
	if strings.Count(msg, "nemo-relay:") != 1 || strings.Count(msg, "NEMO_RELAY_STATUS_") != 1 || strings.Count(msg, "disk full") != 1 {
		t.Fatalf("message: %s", msg)
	}
}

func TestAPanickingSubscriberIsIsolatedAndCounted(t *testing.T) {
	before, err := RuntimeStats()
	must(t, err)
	must(t, RegisterSubscriber("go-broken", func(json.RawMessage) { panic("subscriber bug") }))
	s := newStack(t)
	must(t, s.Mark("a", nil))
	must(t, s.Mark("b", nil))
	must(t, Flush())
	_, _ = Deregister(Subscribers, "go-broken")
	after, err := RuntimeStats()
	must(t, err)
	if n := after.SubscriberErrors - before.SubscriberErrors; n != 2 {
		t.Fatalf("counted %d", n)
	}
}

func TestCallbacksMayCallBackIntoTheLibrary(t *testing.T) {
	ev := collect(t, "reentrant-events")
	// A subscriber that flushes must not wait for itself.
	flushed := make(chan error, 16)
	must(t, RegisterSubscriber("flusher", func(json.RawMessage) { flushed <- Flush() }))
	defer Deregister(Subscribers, "flusher")
	// A tool that runs another tool: with a nil Stack the inner call nests
	// under the outer one.
	var outerUUID string
	must(t, RegisterGuard(ToolConditionalExecution, "uuid-spy", func(ctx CallContext, _ json.RawMessage) (string, bool, error) {
		if ctx.Name == "outer" {
			outerUUID = ctx.UUID
		}
		return "", false, nil
	}))
	defer Deregister(ToolConditionalExecution, "uuid-spy")
	done := make(chan error, 1)
	go func() {
		_, err := newStack(t).ToolCall("outer", nil, nil, func(json.RawMessage) (json.RawMessage, error) {
			return (*Stack)(nil).ToolCall("inner", nil, nil, func(json.RawMessage) (json.RawMessage, error) {
				return json.RawMessage(`"deep"`), nil
			})
		})
		done <- err
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("nested tool call deadlocked")
	}
	if n := ev.count(t, `"parent_uuid":"`+outerUUID+`"`); outerUUID == "" || n != 2 {
		t.Fatalf("inner events under the outer call: %d (outer %q)", n, outerUUID)
	}
	select {
	case err := <-flushed:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("flush inside a subscriber deadlocked")
	}
}

// Goroutines migrate between OS threads; one explicit Stack per goroutine
// keeps their scopes apart regardless (upstream bug G2).
func TestGoroutinesWithTheirOwnStacksDoNotInterfere(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := NewStack()
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for i := 0; i < 50; i++ {
				a, err := s.PushScope("a", ScopeAgent, nil)
				if err != nil {
					errs <- err
					return
				}
				runtime.Gosched()
				_, err = s.ToolCall("t", i, nil, func(args json.RawMessage) (json.RawMessage, error) { return args, nil })
				if err == nil {
					err = s.PopScope(a, nil)
				}
				a.Close()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
