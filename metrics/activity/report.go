package activity

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Line formats a usage in JD's form:
// "cpu:2.79%;mem:58.39%;disk:6.0%;tcpconns:687.0;net-in:0.01MB/s net-out:0.00MB/s".
func (u Usage) Line() string {
	return fmt.Sprintf("cpu:%.2f%%;mem:%.2f%%;disk:%.1f%%;tcpconns:%.1f;net-in:%.2fMB/s net-out:%.2fMB/s",
		u.CPUPercent, u.MemPercent, u.DiskPercent, u.TCPConns, u.NetInMBps, u.NetOutMBps)
}

// WriteText writes the report as plain text, one block per app.
func (r Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Container activity at %s\n", r.Time.UTC().Format(time.RFC3339))
	for _, a := range r.Apps {
		fmt.Fprintf(bw, "\napp %s: %d containers ranked\n", displayApp(a.App), a.Containers)
		writeList(bw, "most active", a.Busiest)
		writeList(bw, "idlest", a.Idlest)
		if len(a.Stale) > 0 {
			fmt.Fprintf(bw, "  data report timed out:\n")
			for _, e := range a.Stale {
				fmt.Fprintf(bw, "    %s  last report %s, %d intervals ago\n", e.ID, e.LastSeen.UTC().Format(time.RFC3339), e.Missed)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return wrapError(ErrWrite, err, "text report")
	}
	return nil
}

func writeList(w io.Writer, title string, es []Entry) {
	if len(es) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s:\n", title)
	for i, e := range es {
		fmt.Fprintf(w, "  %2d. %s  score %.1f  %s\n", i+1, e.ID, e.Score, e.Usage.Line())
	}
}

func displayApp(app string) string {
	if app == "" {
		return "(no app)"
	}
	return app
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return wrapError(ErrWrite, err, "JSON report")
	}
	return nil
}

// htmlReport is the HTML form; html/template escapes every value.
const htmlReport = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Container activity</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td.id{text-align:left}</style>
</head><body>
<h1>Container activity at {{.Time.UTC.Format "2006-01-02 15:04 MST"}}</h1>
{{range .Apps}}<h2>{{displayApp .App}} ({{.Containers}} containers ranked)</h2>
{{template "list" (list "Most active" .Busiest)}}{{template "list" (list "Idlest" .Idlest)}}{{if .Stale}}<h3>Data report timed out</h3>
<ul>{{range .Stale}}<li>{{.ID}}: last report {{.LastSeen.UTC.Format "2006-01-02 15:04:05 MST"}}, {{.Missed}} intervals ago</li>{{end}}</ul>
{{end}}{{end}}</body></html>
{{define "list"}}{{$es := index . 1}}{{if $es}}<h3>{{index . 0}}</h3>
<table><tr><th>#</th><th>container</th><th>score</th><th>cpu</th><th>mem</th><th>disk</th><th>tcp conns</th><th>net in</th><th>net out</th></tr>
{{range $i, $e := $es}}<tr><td>{{inc $i}}</td><td class="id">{{$e.ID}}</td><td>{{printf "%.1f" $e.Score}}</td><td>{{printf "%.2f%%" $e.Usage.CPUPercent}}</td><td>{{printf "%.2f%%" $e.Usage.MemPercent}}</td><td>{{printf "%.1f%%" $e.Usage.DiskPercent}}</td><td>{{printf "%.0f" $e.Usage.TCPConns}}</td><td>{{printf "%.2f MB/s" $e.Usage.NetInMBps}}</td><td>{{printf "%.2f MB/s" $e.Usage.NetOutMBps}}</td></tr>
{{end}}</table>
{{end}}{{end}}`

// WriteHTML writes the report as an HTML page.
func (r Report) WriteHTML(w io.Writer) error {
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"displayApp": displayApp,
		"inc":        func(i int) int { return i + 1 },
		"list":       func(v ...any) []any { return v },
	}).Parse(htmlReport)
	if err != nil {
		return wrapError(ErrWrite, err, "HTML template")
	}
	if err := tmpl.Execute(w, r); err != nil {
		return wrapError(ErrWrite, err, "HTML report")
	}
	return nil
}

// Mail addresses a report.
type Mail struct {
	From string
	To   []string
	// Subject; default "Container activity <date>".
	Subject string
	// Date; default the report's time.
	Date time.Time
}

// WriteMail writes the report as a MIME message (multipart/alternative:
// the text and the HTML form) with its headers, ready for `sendmail -t`.
// Addresses are checked with net/mail.
func (r Report) WriteMail(w io.Writer, m Mail) error {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return wrapError(ErrInvalid, err, "mail From %q", m.From)
	}
	if len(m.To) == 0 {
		return newError(ErrInvalid, "mail without a recipient")
	}
	to := make([]string, len(m.To))
	for i, a := range m.To {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return wrapError(ErrInvalid, err, "mail To %q", a)
		}
		to[i] = addr.String()
	}
	date := m.Date
	if date.IsZero() {
		date = r.Time
	}
	subject := m.Subject
	if subject == "" {
		subject = "Container activity " + date.UTC().Format("2006-01-02 15:04")
	}
	var text, html bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		return err
	}
	if err := r.WriteHTML(&html); err != nil {
		return err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct {
		ctype string
		data  []byte
	}{{"text/plain; charset=utf-8", text.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return wrapError(ErrWrite, err, "mail part")
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write(part.data); err != nil {
			return wrapError(ErrWrite, err, "mail part")
		}
		if err := qp.Close(); err != nil {
			return wrapError(ErrWrite, err, "mail part")
		}
	}
	if err := mw.Close(); err != nil {
		return wrapError(ErrWrite, err, "mail body")
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "From: %s\r\n", from.String())
	fmt.Fprintf(&hdr, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&hdr, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&hdr, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&hdr, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), domain)
	fmt.Fprintf(&hdr, "MIME-Version: 1.0\r\n")
	fmt.Fprintf(&hdr, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", mw.Boundary())
	if _, err := io.WriteString(w, hdr.String()); err != nil {
		return wrapError(ErrWrite, err, "mail headers")
	}
	if _, err := w.Write(body.Bytes()); err != nil {
		return wrapError(ErrWrite, err, "mail body")
	}
	return nil
}
