package nemorelay

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestLoadedLibraryMatchesHeaderABI(t *testing.T) {
	if err := CheckABI(); err != nil {
		t.Fatal(err)
	}
	if ABIVersion() != HeaderABIVersion {
		t.Fatalf("ABIVersion() = %d, header = %d", ABIVersion(), HeaderABIVersion)
	}
	if v := Version(); strings.Count(v, ".") != 2 {
		t.Fatalf("Version() = %q, want MAJOR.MINOR.PATCH", v)
	}
}

func TestStatusNamesComeFromTheLibrary(t *testing.T) {
	if got := StatusNotFound.String(); got != "NEMO_RELAY_STATUS_NOT_FOUND" {
		t.Fatalf("StatusNotFound.String() = %q", got)
	}
	if got := Status(999).String(); got != "NemoRelayStatus(999)" {
		t.Fatalf("unknown status String() = %q", got)
	}
}

func TestNormalizeJSONReturnsCompactText(t *testing.T) {
	got, err := NormalizeJSON(" [ 1, {\"k\" : \"v\"} ] ")
	if err != nil {
		t.Fatal(err)
	}
	if want := `[1,{"k":"v"}]`; got != want {
		t.Fatalf("NormalizeJSON = %q, want %q", got, want)
	}
}

func TestErrorsMapToSentinels(t *testing.T) {
	cases := []struct {
		name    string
		run     func() error
		want    error
		message string
	}{
		{"invalid JSON", func() error { _, err := NormalizeJSON("{"); return err }, ErrInvalidJSON, "not valid JSON"},
		{"invalid UTF-8", func() error { _, err := NormalizeJSON("\"\xff\""); return err }, ErrInvalidUTF8, "UTF-8"},
		{"NULL input", normalizeNullJSON, ErrNullPointer, "`json`"},
		{"NUL in Go string", func() error { _, err := NormalizeJSON("1\x002"); return err }, ErrInvalidArgument, "NUL byte"},
		{"panic", debugPanic, ErrPanic, "nemo_relay_debug_panic was called"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want errors.Is(_, %v)", err, tc.want)
			}
			if errors.Is(err, ErrNotFound) {
				t.Fatalf("%v must not match ErrNotFound", err)
			}
			var relayErr *Error
			if !errors.As(err, &relayErr) || !strings.Contains(relayErr.Message, tc.message) {
				t.Fatalf("message %q does not contain %q", relayErr.Message, tc.message)
			}
		})
	}
}

func TestWrappedErrorsStillMatch(t *testing.T) {
	_, err := NormalizeJSON("nope")
	wrapped := fmt.Errorf("loading config: %w", err)
	if !errors.Is(wrapped, ErrInvalidJSON) {
		t.Fatalf("wrapped error %v lost its code", wrapped)
	}
}

// Error messages are thread-local in the library; goroutines that migrate
// between OS threads must still get their own error (upstream bug G3).
func TestErrorsSurviveGoroutineMigration(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	inputs := []struct {
		text string
		want error
	}{
		{"{", ErrInvalidJSON},
		{"\"\xfe\"", ErrInvalidUTF8},
		{"[1,2]", nil},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				in := inputs[(g+i)%len(inputs)]
				_, err := NormalizeJSON(in.text)
				runtime.Gosched()
				if (in.want == nil) != (err == nil) || (in.want != nil && !errors.Is(err, in.want)) {
					errs <- fmt.Errorf("input %q: got %v, want %v", in.text, err, in.want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestUserDataIsReleasedExactlyOnceThroughC(t *testing.T) {
	before := liveUserDataCount()
	token := newUserData(func() string { return "closure" })
	if liveUserDataCount() != before+1 {
		t.Fatalf("live count did not grow")
	}
	if f, ok := userDataValue(token).(func() string); !ok || f() != "closure" {
		t.Fatalf("stored value not returned")
	}
	releaseThroughC(token)
	if got := liveUserDataCount(); got != before {
		t.Fatalf("live user_data = %d after release, want %d", got, before)
	}
	// A second release (a library bug) must not crash the process.
	releaseThroughC(token)
	if got := liveUserDataCount(); got != before {
		t.Fatalf("double release changed the count to %d", got)
	}
}
