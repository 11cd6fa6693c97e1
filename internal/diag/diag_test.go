package diag

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWriteTextCaretUnderTabs(t *testing.T) {
	d := Diagnostic{File: "f.conf", Line: 3, Col: 13, EndCol: 17, Message: "bad port", Source: "permit\tx eq 9999x", Hint: "try 80"}
	var b bytes.Buffer
	d.WriteText(&b)
	want := "f.conf:3:13: error: bad port\n    permit\tx eq 9999x\n          \t     ^~~~\n    hint: try 80\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestWriteTextHidesControlBytes(t *testing.T) {
	d := Diagnostic{File: "f", Line: 1, Col: 1, Message: "m", Source: "a\x1b[31mb\rc"}
	var b bytes.Buffer
	d.WriteText(&b)
	if strings.ContainsAny(b.String(), "\x1b\r") {
		t.Errorf("control bytes reached the terminal: %q", b.String())
	}
}

func TestSortAndSummary(t *testing.T) {
	l := List{
		{File: "a", Line: 5, Col: 1, Severity: Warning, Message: "w"},
		{File: "a", Line: 2, Col: 7, Message: "e2"},
		{File: "a", Line: 2, Col: 3, Message: "e1"},
	}
	l.Sort()
	if l[0].Message != "e1" || l[1].Message != "e2" || l[2].Message != "w" {
		t.Errorf("sorted wrong: %v", l)
	}
	if !l.HasErrors() || l.Count(Error) != 2 || len(l.Only(Warning)) != 1 {
		t.Errorf("counts wrong")
	}
	var b bytes.Buffer
	l.WriteText(&b)
	if !strings.HasSuffix(b.String(), "2 errors, 1 warning\n") {
		t.Errorf("no summary: %q", b.String())
	}
	err := l.Err()
	if back := (List)(nil); !errors.As(err, &back) || len(back) != 3 {
		t.Errorf("errors.As lost the list")
	}
	if (List{{Severity: Warning}}).Err() != nil {
		t.Errorf("warnings alone are not an error")
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := (List)(nil).WriteJSON(&b); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("empty list: %q %v", b.String(), err)
	}
	b.Reset()
	List{{File: "f", Line: 1, Col: 2, Severity: Warning, Message: "m", Hint: "h"}}.WriteJSON(&b)
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got[0]["severity"] != "warning" || got[0]["line"] != 1.0 || got[0]["hint"] != "h" {
		t.Errorf("JSON = %v", got)
	}
}

// TestWrappedListIsFound: a List wrapped by callers that add context is
// still found by errors.As and printed with its source line and caret.
func TestWrappedListIsFound(t *testing.T) {
	l := List{{File: "sockd.conf", Line: 3, Col: 30, EndCol: 36, Message: `unknown service "telent"`,
		Source: "permit 10.0.0.0 255.0.0.0 eq telent", Hint: `did you mean "telnet"?`}}
	err := fmt.Errorf("reload: %w", fmt.Errorf("load %s: %w", "sockd.conf", l.Err()))
	var got List
	if !errors.As(err, &got) {
		t.Fatalf("errors.As did not find the list in %q", err)
	}
	var b bytes.Buffer
	got.WriteText(&b)
	want := `sockd.conf:3:30: error: unknown service "telent"
    permit 10.0.0.0 255.0.0.0 eq telent
` + "    " + strings.Repeat(" ", 29) + "^~~~~~\n" + `    hint: did you mean "telnet"?
`
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
	if back := (List)(nil); !errors.As(err, &back) || len(back) != 1 {
		t.Errorf("errors.As lost the wrapped list")
	}
	if !strings.Contains(err.Error(), "reload: load sockd.conf: sockd.conf:3:30: error") {
		t.Errorf("error text %q", err)
	}
}
