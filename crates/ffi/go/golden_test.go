package nemorelay

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The scripted agent run of tests/golden/README.md, from Go.

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// normalizeEvents applies the rules of tests/golden/normalize.py: UUIDs
// become uuid-N by first appearance (sorted keys, depth first), top-level
// timestamps become "ts".
func normalizeEvents(events []any) []any {
	ids := map[string]string{}
	var walk func(v any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out := make(map[string]any, len(t))
			for _, k := range keys {
				out[k] = walk(t[k])
			}
			return out
		case []any:
			out := make([]any, len(t))
			for i, item := range t {
				out[i] = walk(item)
			}
			return out
		case string:
			if uuidPattern.MatchString(t) {
				if _, seen := ids[t]; !seen {
					ids[t] = "uuid-" + itoa(len(ids))
				}
				return ids[t]
			}
			return t
		default:
			return v
		}
	}
	out := make([]any, len(events))
	for i, e := range events {
		n := walk(e)
		if m, ok := n.(map[string]any); ok {
			if _, has := m["timestamp"]; has {
				m["timestamp"] = "ts"
			}
		}
		out[i] = n
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func parseLines(t *testing.T, text string) []any {
	t.Helper()
	var out []any
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

func TestTheScriptedAgentRunMatchesTheGoldenStream(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	must(t, RegisterSubscriber("golden", func(event json.RawMessage) {
		mu.Lock()
		lines = append(lines, string(event))
		mu.Unlock()
	}))
	must(t, RegisterRewrite(ToolRequestIntercept, "add-trace", func(_ CallContext, args json.RawMessage) (json.RawMessage, error) {
		var obj map[string]any
		if json.Unmarshal(args, &obj) != nil || obj == nil {
			return nil, nil // not an object: unchanged
		}
		obj["trace"] = true
		return json.Marshal(obj)
	}))
	must(t, RegisterRewrite(ToolSanitizeRequest, "redact-api-key", func(_ CallContext, args json.RawMessage) (json.RawMessage, error) {
		var obj map[string]any
		if json.Unmarshal(args, &obj) != nil || obj == nil {
			return nil, nil
		}
		if _, ok := obj["api_key"]; ok {
			obj["api_key"] = "[REDACTED]"
		}
		return json.Marshal(obj)
	}))
	must(t, RegisterGuard(ToolConditionalExecution, "no-rm", func(ctx CallContext, args json.RawMessage) (string, bool, error) {
		var obj struct {
			Cmd string `json:"cmd"`
		}
		_ = json.Unmarshal(args, &obj)
		if ctx.Name == "shell" && strings.HasPrefix(obj.Cmd, "rm") {
			return "destructive command", true, nil
		}
		return "", false, nil
	}))
	defer func() {
		for _, r := range []struct {
			f Family
			n string
		}{{Subscribers, "golden"}, {ToolRequestIntercept, "add-trace"}, {ToolSanitizeRequest, "redact-api-key"}, {ToolConditionalExecution, "no-rm"}} {
			if _, err := Deregister(r.f, r.n); err != nil {
				t.Error(err)
			}
		}
	}()

	stack, err := NewStack()
	must(t, err)
	defer stack.Close()
	agent, err := stack.PushScope("agent", ScopeAgent, Options{"input": map[string]any{"task": "find docs"}})
	must(t, err)
	defer agent.Close()
	must(t, stack.Mark("plan", Options{"data": map[string]any{"step": 1}}))

	var seenArgs map[string]any
	_, err = stack.ToolCall("search", map[string]any{"query": "nemo relay", "api_key": "sk-123"},
		Options{"tool_call_id": "call-1"}, func(args json.RawMessage) (json.RawMessage, error) {
			must(t, json.Unmarshal(args, &seenArgs))
			return json.Marshal(map[string]any{"hits": []any{seenArgs["query"]}, "traced": seenArgs["trace"]})
		})
	must(t, err)
	want := map[string]any{"api_key": "sk-123", "query": "nemo relay", "trace": true}
	if !reflect.DeepEqual(seenArgs, want) {
		t.Errorf("search got %v, want %v", seenArgs, want)
	}

	_, err = stack.LLMCall("chat", map[string]any{
		"headers": map[string]any{"authorization": "Bearer sk-live", "x-team": "docs"},
		"content": map[string]any{"messages": []any{map[string]any{"role": "user", "content": "summarize"}}},
	}, Options{"model_name": "demo-model"}, func(json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`{"message":{"role":"assistant","content":"summary"}}`), nil
	})
	must(t, err)

	shellRan := false
	_, err = stack.ToolCall("shell", map[string]any{"cmd": "rm -rf /"}, nil, func(json.RawMessage) (json.RawMessage, error) {
		shellRan = true
		return json.RawMessage(`{}`), nil
	})
	if !errors.Is(err, ErrGuardrailRejected) || shellRan {
		t.Fatalf("shell: err=%v ran=%v, want a guardrail rejection", err, shellRan)
	}
	must(t, stack.Mark("done", Options{"data": map[string]any{"ok": true}}))
	must(t, stack.PopScope(agent, Options{"output": map[string]any{"answer": "summary"}}))
	must(t, Flush())

	golden, err := os.ReadFile("../../../tests/golden/agent_run.jsonl")
	must(t, err)
	mu.Lock()
	got := normalizeEvents(parseLines(t, strings.Join(lines, "\n")))
	mu.Unlock()
	expected := parseLines(t, string(golden))
	if len(got) != len(expected) {
		t.Fatalf("got %d events, want %d", len(got), len(expected))
	}
	for i := range expected {
		if !reflect.DeepEqual(got[i], expected[i]) {
			g, _ := json.Marshal(got[i])
			w, _ := json.Marshal(expected[i])
			t.Errorf("event %d:\n got  %s\n want %s", i, g, w)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
