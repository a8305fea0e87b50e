package nemorelay

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// denyKind is a Go plugin kind: {"tool": name} installs a guardrail that
// rejects that tool and an intercept that tags every tool result.
func denyKind(teardowns *atomic.Int32) PluginKind {
	return PluginKind{
		Kind:        "go-deny",
		Description: "denies one tool",
		Validate: func(config json.RawMessage, check ConfigCheck) error {
			var c map[string]any
			if err := json.Unmarshal(config, &c); err != nil {
				return err
			}
			if err := check.KnownFields("", "tool"); err != nil {
				return err
			}
			if _, ok := c["tool"].(string); !ok {
				return check.Error("tool", "plugin.missing_field", "missing required field 'tool'")
			}
			return nil
		},
		Register: func(config json.RawMessage, ctx PluginContext) error {
			var c struct{ Tool string }
			if err := json.Unmarshal(config, &c); err != nil {
				return err
			}
			if c.Tool == "fail" {
				return errors.New("go-deny refuses tool 'fail'")
			}
			if err := ctx.RegisterGuard(ToolConditionalExecution, "deny", func(cc CallContext, _ json.RawMessage) (string, bool, error) {
				return "blocked by go-deny", cc.Name == c.Tool, nil
			}); err != nil {
				return err
			}
			if err := ctx.RegisterIntercept(ToolExecutionIntercept, "tag", func(_ CallContext, req json.RawMessage, next Next) (json.RawMessage, error) {
				out, err := next.Run(req)
				if err != nil {
					return nil, err
				}
				return json.RawMessage(`{"via":"go-deny","result":` + string(out) + `}`), nil
			}); err != nil {
				return err
			}
			if name, err := ctx.Qualify("deny"); err != nil || name != "go-deny#1/deny" {
				return errors.New("qualify gave " + name)
			}
			return ctx.OnTeardown(func() { teardowns.Add(1) })
		},
	}
}

func runTool(t *testing.T, name string) (json.RawMessage, error) {
	t.Helper()
	return newStack(t).ToolCall(name, map[string]any{}, nil, func(json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`"ran"`), nil
	})
}

func TestAGoPluginKindWorksEndToEnd(t *testing.T) {
	var teardowns atomic.Int32
	must(t, RegisterPluginKind(denyKind(&teardowns)))
	defer func() { _, _ = DeregisterPluginKind("go-deny") }()
	if err := RegisterPluginKind(denyKind(&teardowns)); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second registration: %v", err)
	}

	kinds, err := PluginKinds()
	must(t, err)
	found := false
	for _, k := range kinds {
		found = found || (k.Kind == "go-deny" && k.Description == "denies one tool")
	}
	if !found {
		t.Fatalf("kinds %v", kinds)
	}

	report, err := ValidatePlugins(map[string]any{"components": []any{
		map[string]any{"kind": "go-deny", "config": map[string]any{"colour": 1}},
	}})
	must(t, err)
	codes := []string{}
	for _, d := range report.Diagnostics {
		codes = append(codes, d.Level+":"+d.Code+"@"+d.Field)
	}
	if !report.HasErrors || strings.Join(codes, ",") != "warning:plugin.unknown_field@config.colour,error:plugin.missing_field@config.tool" {
		t.Fatalf("diagnostics %v", codes)
	}

	good := map[string]any{"components": []any{map[string]any{"kind": "go-deny", "config": map[string]any{"tool": "shell"}}}}
	activation, err := InitializePlugins(good)
	must(t, err)
	if !strings.Contains(string(activation), `"go-deny#1/tag"`) {
		t.Fatalf("activation %s", activation)
	}
	if _, err := runTool(t, "shell"); !errors.Is(err, ErrGuardrailRejected) {
		t.Fatalf("shell: %v", err)
	}
	out, err := runTool(t, "search")
	must(t, err)
	if string(out) != `{"result":"ran","via":"go-deny"}` {
		t.Fatalf("search: %s", out)
	}

	// A failing re-activation leaves the previous one in place.
	_, err = InitializePlugins(map[string]any{"components": []any{map[string]any{"kind": "go-deny", "config": map[string]any{"tool": "fail"}}}})
	if !errors.Is(err, ErrCallbackFailed) || !strings.Contains(err.Error(), "refuses tool 'fail'") {
		t.Fatalf("failing activation: %v", err)
	}
	if _, err := runTool(t, "shell"); !errors.Is(err, ErrGuardrailRejected) {
		t.Fatalf("shell after failed activation: %v", err)
	}

	active, err := ClearPlugins()
	must(t, err)
	if !active || teardowns.Load() != 1 {
		t.Fatalf("clear: active=%v teardowns=%d", active, teardowns.Load())
	}
	if _, err := runTool(t, "shell"); err != nil {
		t.Fatalf("shell after clear: %v", err)
	}
	if report, _ := ActivePlugins(); string(report) != "null" {
		t.Fatalf("active after clear: %s", report)
	}
}

func TestAContextKeptPastItsHookIsRefused(t *testing.T) {
	var kept PluginContext
	must(t, RegisterPluginKind(PluginKind{Kind: "go-keeper", Register: func(_ json.RawMessage, ctx PluginContext) error {
		kept = ctx
		return nil
	}}))
	defer func() { _, _ = DeregisterPluginKind("go-keeper") }()
	_, err := InitializePlugins(json.RawMessage(`{"components":[{"kind":"go-keeper"}]}`))
	must(t, err)
	defer func() { _, _ = ClearPlugins() }()
	err = kept.RegisterSubscriber("late", func(json.RawMessage) {})
	if !errors.Is(err, ErrInvalidState) {
		t.Fatalf("late registration: %v", err)
	}
}

func TestBuiltinKindsLoadFromFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugins.toml")
	must(t, os.WriteFile(path, []byte("version = 1\n[[components]]\nkind = \"policy\"\nconfig = { deny = [\"rm*\"] }\n"), 0o600))
	report, err := ValidatePluginsFile(path)
	must(t, err)
	if report.HasErrors || len(report.Diagnostics) != 0 {
		t.Fatalf("report %+v", report)
	}
	_, err = InitializePluginsFile(path)
	must(t, err)
	if _, err := runTool(t, "rmdir"); !errors.Is(err, ErrGuardrailRejected) {
		t.Fatalf("rmdir: %v", err)
	}
	_, err = ClearPlugins()
	must(t, err)
	if _, err := InitializePluginsFile(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := InitializePlugins(json.RawMessage(`{"components":[{"kind":"policy","config":{"deny":7}}]}`)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("invalid document: %v", err)
	}
}
