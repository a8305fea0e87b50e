package nemorelay

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestStreamInterceptsWrapTheDownstreamStream(t *testing.T) {
	must(t, RegisterStreamIntercept("go-upper", func(_ CallContext, req json.RawMessage, next Next) (*Stream, error) {
		down, err := next.RunStream(req)
		if err != nil {
			return nil, err
		}
		return NewStream(func(_ json.RawMessage, _ uint64) (json.RawMessage, bool, error) {
			chunk, ok, err := down.Next()
			if !ok || err != nil {
				down.Close()
				return nil, false, err
			}
			return json.RawMessage(strings.ToUpper(string(chunk))), true, nil
		})
	}))
	defer func() { _, _ = Deregister(LLMStreamExecutionIntercept, "go-upper") }()
	st, err := newStack(t).LLMStream("chat", map[string]any{"content": map[string]any{}}, nil,
		func(_ json.RawMessage, i uint64) (json.RawMessage, bool, error) {
			if i < 2 {
				return json.RawMessage(`{"delta":"hi"}`), true, nil
			}
			return nil, false, nil
		})
	must(t, err)
	defer st.Close()
	var chunks []string
	for {
		chunk, ok, err := st.Next()
		must(t, err)
		if !ok {
			break
		}
		chunks = append(chunks, string(chunk))
	}
	if strings.Join(chunks, "") != `{"DELTA":"HI"}{"DELTA":"HI"}` {
		t.Fatalf("chunks %v", chunks)
	}
}

func TestAFailingStreamInterceptFailsTheCall(t *testing.T) {
	must(t, RegisterStreamIntercept("go-refuse", func(CallContext, json.RawMessage, Next) (*Stream, error) {
		return nil, errors.New("no streams today")
	}))
	defer func() { _, _ = Deregister(LLMStreamExecutionIntercept, "go-refuse") }()
	_, err := newStack(t).LLMStream("chat", map[string]any{"content": 1}, nil,
		func(json.RawMessage, uint64) (json.RawMessage, bool, error) { return nil, false, nil })
	if !errors.Is(err, ErrCallbackFailed) || !strings.Contains(err.Error(), "no streams today") {
		t.Fatalf("refused stream: %v", err)
	}
}

func TestManualLLMCallsEmitStartAndEndEvents(t *testing.T) {
	ev := collect(t, "go-manual-llm")
	s := newStack(t)
	llm, err := s.StartLLM("manual-chat", map[string]any{"headers": map[string]any{}, "content": "hi"}, Options{"model_name": "m1"})
	must(t, err)
	defer llm.Close()
	uuid, err := llm.UUID()
	must(t, err)
	must(t, llm.End(s, map[string]any{"text": "hello"}, nil))
	failed, err := s.StartLLM("manual-chat-2", map[string]any{"content": "hi"}, nil)
	must(t, err)
	defer failed.Close()
	must(t, failed.Fail(s, "provider down", nil))
	tool, err := s.StartTool("manual-tool", map[string]any{}, nil)
	must(t, err)
	defer tool.Close()
	must(t, tool.Fail(s, "tool broke", nil))
	if n := ev.count(t, uuid); n != 2 {
		t.Fatalf("%d events carry %s", n, uuid)
	}
	if ev.count(t, "provider down") != 1 || ev.count(t, "tool broke") != 1 {
		t.Fatal("failure messages missing from the end events")
	}
}

func TestStatsAndRegistrationsAreReadable(t *testing.T) {
	must(t, RegisterSubscriber("go-stats", func(json.RawMessage) {}))
	defer func() { _, _ = Deregister(Subscribers, "go-stats") }()
	names, err := Registrations(Subscribers)
	must(t, err)
	if !strings.Contains(strings.Join(names, ","), "go-stats") {
		t.Fatalf("registrations %v", names)
	}
	must(t, newStack(t).Mark("stats-probe", nil))
	must(t, Flush())
	stats, err := RuntimeStats()
	must(t, err)
	if stats.Delivered == 0 || stats.Capacity == 0 {
		t.Fatalf("stats %+v", stats)
	}
	if _, err := Registrations(Family(99)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("family 99: %v", err)
	}
}
