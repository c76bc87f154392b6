package report

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// mdConverter is the CommonMark parser and renderer for report.md, with
// GitHub's pipe tables (runner/tables writes them, escaping | and the like
// in cells with backslashes). Raw HTML in the markdown is not let through:
// goldmark's HTML renderer leaves it out unless told it is safe, which it
// is not told here.
var mdConverter = goldmark.New(goldmark.WithExtensions(extension.Table))

// markdownToHTML converts report.md (and so tables.md) to an HTML fragment.
// img turns each image's source into the URL to embed (a data: URI for a
// self-contained page); links to anything but an anchor on the page, and
// autolinks, keep only their text, for the same reason.
func markdownToHTML(src string, img func(src string) (string, error)) (string, error) {
	source := []byte(src)
	doc := mdConverter.Parser().Parse(text.NewReader(source))
	var unwrap []ast.Node
	err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Image:
			u, err := img(string(n.Destination))
			if err != nil {
				return ast.WalkStop, err
			}
			n.Destination = []byte(u)
		case *ast.Link:
			if !bytes.HasPrefix(n.Destination, []byte("#")) {
				unwrap = append(unwrap, n)
			}
		case *ast.AutoLink:
			unwrap = append(unwrap, n)
		}
		return ast.WalkContinue, nil
	})
	if err != nil {
		return "", err
	}
	for _, n := range unwrap {
		parent := n.Parent()
		if a, ok := n.(*ast.AutoLink); ok {
			s := ast.NewString(a.Label(source))
			s.SetRaw(true) // the label as written, escaped for HTML
			parent.ReplaceChild(parent, n, s)
			continue
		}
		for c := n.FirstChild(); c != nil; c = n.FirstChild() {
			parent.InsertBefore(parent, n, c) // moves c out of n
		}
		parent.RemoveChild(parent, n)
	}
	var b strings.Builder
	if err := mdConverter.Renderer().Render(&b, source, doc); err != nil {
		return "", err
	}
	return b.String(), nil
}

// mdEscape keeps text (names, notes) from being read as markdown: it
// backslash-escapes what would start code, emphasis, links, images, table
// cells or raw HTML. An underscore between letters or digits cannot start
// or end emphasis and is left as it is, so file names like labels_test.npy
// read as written in report.md too.
func mdEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			j := i
			for j < len(s) && s[j] == '_' {
				j++
			}
			before, _ := utf8.DecodeLastRuneInString(s[:i])
			after, _ := utf8.DecodeRuneInString(s[j:])
			if isAlnum(before) && isAlnum(after) {
				b.WriteString(s[i:j])
			} else {
				b.WriteString(strings.Repeat(`\_`, j-i))
			}
			i = j - 1
		case strings.IndexByte("\\`*[]|!<>", c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
