package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// Output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// table is the human form of a result: a header and rows (no header: plain lines).
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, row)
}

// emit writes v as the format asks: JSON and YAML encode v itself (its json and yaml
// tags), the table form is tab-aligned.
func emit(w io.Writer, format string, v any, t *table) error {
	switch format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case formatYAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(t.header) > 0 {
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	}
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func checkFormat(f string) error {
	switch f {
	case formatTable, formatJSON, formatYAML:
		return nil
	}
	return usagef("-o/--output must be table, json or yaml, not %q", f)
}

// codec turns keys and values between their command-line / output form and bytes: text by
// default, standard base64 with --base64.
type codec struct{ b64 bool }

func (c codec) decode(field, s string) ([]byte, error) {
	if !c.b64 {
		return []byte(s), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, usagef("%s is not standard base64 (--base64): %v", field, err)
	}
	return b, nil
}

func (c codec) encode(b []byte) string {
	if c.b64 {
		return base64.StdEncoding.EncodeToString(b)
	}
	return string(b)
}

// emitLines writes each item as one compact JSON object per line (--follow -o json).
func emitLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}
