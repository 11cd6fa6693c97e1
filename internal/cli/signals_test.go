package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sockd/sockd/internal/testnet"
)

// logFileMsgs are the messages of the JSON lines in path, in order.
func logFileMsgs(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			msg, _ := m["msg"].(string)
			out = append(out, msg)
		}
	}
	return out
}

func countMsg(msgs []string, msg string) int {
	n := 0
	for _, m := range msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// rotateAndSIGHUP starts the daemon (with extra flags) logging JSON to a
// --log-file, waits for its READY=1, moves the file away as logrotate
// does, sends one SIGHUP and waits for the READY=1 of the reload. If the
// test fails, logFiles shows the new and the rotated file.
func rotateAndSIGHUP(t *testing.T, logFiles func(logPath, rotated string), extra ...string) (d *daemonProc, logPath, rotated string) {
	t.Helper()
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 127.0.0.0 255.0.0.0\n")
	logPath = filepath.Join(dir, "sockd.log")
	notifyPath, notify := listenNotify(t)
	args := append([]string{"-c", conf, "--listen", "127.0.0.1:0"}, extra...)
	d = startDaemonProc(t, []string{"NOTIFY_SOCKET=" + notifyPath}, append(args,
		"--log-file", logPath, "--log-format", "json", "--drain-timeout", "5s")...)
	waitCount(t, "READY=1", func() int { return notify.count("READY=1") }, 1)
	rotated = logPath + ".1"
	if err := os.Rename(logPath, rotated); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	t.Cleanup(func() {
		if t.Failed() {
			logFiles(logPath, rotated)
		}
	})
	waitCount(t, "READY=1 after the reload", func() int { return notify.count("READY=1") }, 2)
	return d, logPath, rotated
}

// TestDaemonSIGHUPReopensBeforeReload: the daemon has one signal loop.
// After logrotate moved the --log-file away, one SIGHUP reopens the file
// first and then reloads, once each: the new file starts with the reopen
// and holds every line of the reload, and the old file holds none of it.
// (With two loops taking SIGHUP, the reload's first lines raced the
// reopen into the old file.)
func TestDaemonSIGHUPReopensBeforeReload(t *testing.T) {
	d, logPath, rotated := rotateAndSIGHUP(t, func(logPath, rotated string) {
		t.Logf("old file: %q\nnew file: %q", logFileMsgs(rotated), logFileMsgs(logPath))
	})
	waitCount(t, "the reopen", func() int {
		return countMsg(logFileMsgs(logPath), "SIGHUP: log file reopened") + countMsg(logFileMsgs(rotated), "SIGHUP: log file reopened")
	}, 1)
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.waitExit(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, d.log.String())
	}
	old, cur := logFileMsgs(rotated), logFileMsgs(logPath)
	if countMsg(old, "configuration loaded") != 1 {
		t.Errorf("old file: %d start-up loads, want 1", countMsg(old, "configuration loaded"))
	}
	for _, msg := range []string{"SIGHUP: log file reopened", "SIGHUP: reloading"} {
		if n := countMsg(old, msg) + countMsg(cur, msg); n != 1 {
			t.Errorf("%q logged %d times for one SIGHUP, want once", msg, n)
		}
		if countMsg(old, msg) != 0 {
			t.Errorf("%q went to the rotated file", msg)
		}
	}
	if len(cur) < 3 || cur[0] != "SIGHUP: log file reopened" || cur[1] != "SIGHUP: reloading" || cur[2] != "configuration loaded" {
		t.Errorf("the new file starts %q, want the reopen, then the reload", cur)
	}
}

// logFileEntries are the JSON lines in path whose worker field is worker
// ("" for the supervisor's and a daemon's lines), as messages in order.
func logFileEntries(path, worker string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		w := ""
		if v, ok := m["worker"]; ok && m["process"] == nil {
			w = fmt.Sprint(v)
		}
		if w == worker {
			msg, _ := m["msg"].(string)
			out = append(out, msg)
		}
	}
	return out
}

// TestWorkersSIGHUPReopensBeforeReload: with --workers, the supervisor and
// every worker each have one signal loop; one SIGHUP after logrotate gives
// one reopen and then one reload in every process, all in the new file.
func TestWorkersSIGHUPReopensBeforeReload(t *testing.T) {
	d, logPath, rotated := rotateAndSIGHUP(t, func(logPath, rotated string) {
		old, _ := os.ReadFile(rotated)
		cur, _ := os.ReadFile(logPath)
		t.Logf("old file:\n%s\nnew file:\n%s", old, cur)
	}, "--workers", "2")
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.waitExit(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, d.log.String())
	}
	for _, w := range []string{"1", "2"} {
		old, cur := logFileEntries(rotated, w), logFileEntries(logPath, w)
		for _, msg := range []string{"SIGHUP: log file reopened", "SIGHUP: reloading"} {
			if countMsg(old, msg) != 0 || countMsg(cur, msg) != 1 {
				t.Errorf("worker %s: %q %d times in the old file and %d in the new, want 0 and 1", w, msg, countMsg(old, msg), countMsg(cur, msg))
			}
		}
		if len(cur) < 3 || cur[0] != "SIGHUP: log file reopened" || cur[1] != "SIGHUP: reloading" || cur[2] != "configuration loaded" {
			t.Errorf("worker %s: the new file starts %q, want the reopen, then the reload", w, cur)
		}
	}
	old, cur := logFileEntries(rotated, ""), logFileEntries(logPath, "")
	if countMsg(old, "SIGHUP: reloading every worker") != 0 || countMsg(cur, "SIGHUP: reloading every worker") != 1 || countMsg(cur, "every worker reloaded") != 1 {
		t.Errorf("supervisor: old file %q, new file %q", old, cur)
	}
}
