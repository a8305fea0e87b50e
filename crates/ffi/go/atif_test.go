package nemorelay

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAtifExportOfAScriptedRun(t *testing.T) {
	if _, err := NewAtifExporter(Options{"agnet_name": "x"}); !errors.Is(err, ErrInvalidJSON) {
		t.Fatalf("unknown option: %v", err)
	}
	exporter, err := NewAtifExporter(Options{"agent_version": "9.9"})
	must(t, err)
	defer exporter.Close()
	must(t, exporter.Register("go-atif"))
	if _, err := exporter.Export(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("export before any event: %v", err)
	}

	s := newStack(t)
	agent, err := s.PushScope("weather-agent", ScopeAgent, nil)
	must(t, err)
	_, err = s.LLMCall("openai.chat", map[string]any{"headers": map[string]any{}, "content": map[string]any{
		"messages": []any{map[string]any{"role": "user", "content": "Weather in Paris?"}}}}, nil,
		func(json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`{"choices":[{"message":{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]}}]}`), nil
		})
	must(t, err)
	_, err = s.ToolCall("get_weather", map[string]any{}, Options{"tool_call_id": "call_1"}, func(json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`"18C"`), nil
	})
	must(t, err)
	must(t, s.PopScope(agent, nil))

	raw, err := exporter.Export()
	must(t, err)
	var doc struct {
		SchemaVersion string `json:"schema_version"`
		Agent         struct{ Name, Version string }
		Steps         []struct {
			StepID    int `json:"step_id"`
			Source    string
			Message   any
			ToolCalls []struct {
				ToolCallID string `json:"tool_call_id"`
			} `json:"tool_calls"`
		}
	}
	must(t, json.Unmarshal(raw, &doc))
	if doc.SchemaVersion != "ATIF-v1.7" || doc.Agent.Name != "weather-agent" || doc.Agent.Version != "9.9" {
		t.Fatalf("header of %s", raw)
	}
	if len(doc.Steps) != 2 || doc.Steps[0].Source != "user" || doc.Steps[1].Source != "agent" ||
		len(doc.Steps[1].ToolCalls) != 1 || doc.Steps[1].ToolCalls[0].ToolCallID != "call_1" {
		t.Fatalf("steps of %s", raw)
	}
	must(t, exporter.Clear())
	if _, err := exporter.Export(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("export after clear: %v", err)
	}
}
