package grammar

import (
	"bytes"
	"os"
	"strings"
)

// A minimal txtar reader and writer for the golden files. The txtar package
// of go-internal needs golang.org/x/tools, which this module does not
// require, and the format is small: an optional comment, then files, each
// introduced by a line "-- name --".

type archiveFile struct {
	Name string
	Data []byte
}

type archive struct {
	Comment []byte
	Files   []archiveFile
}

func markerName(line string) (string, bool) {
	if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") && len(line) >= 7 {
		return strings.TrimSpace(line[3 : len(line)-3]), true
	}
	return "", false
}

func parseArchive(data []byte) *archive {
	a := &archive{}
	cur := &a.Comment
	for len(data) > 0 {
		line, rest, found := bytes.Cut(data, []byte("\n"))
		if name, ok := markerName(string(line)); ok {
			a.Files = append(a.Files, archiveFile{Name: name})
			cur = &a.Files[len(a.Files)-1].Data
		} else {
			*cur = append(*cur, line...)
			if found {
				*cur = append(*cur, '\n')
			}
		}
		data = rest
	}
	return a
}

func readArchive(path string) (*archive, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseArchive(data), nil
}

func formatArchive(a *archive) []byte {
	var b bytes.Buffer
	b.Write(fixNL(a.Comment))
	for _, f := range a.Files {
		b.WriteString("-- " + f.Name + " --\n")
		b.Write(fixNL(f.Data))
	}
	return b.Bytes()
}

func fixNL(data []byte) []byte {
	if len(data) == 0 || data[len(data)-1] == '\n' {
		return data
	}
	return append(append([]byte(nil), data...), '\n')
}
