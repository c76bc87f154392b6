package report

import (
	"fmt"
	"html"
	"regexp"
	"strings"
)

// markdownToHTML converts the markdown subset that report.md uses (and so
// tables.md: clusterlab's tables are pipe tables under bold captions) to
// HTML: ATX headings, fenced code blocks, pipe tables with alignment rows,
// "- " lists, paragraphs, and inline code, **strong**, images and links.
// All text is escaped. img turns an image source into the URL to embed (a
// data: URI for a self-contained page); links to anything but an anchor
// keep only their text, for the same reason.
func markdownToHTML(md string, img func(src string) (string, error)) (string, error) {
	lines := strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n")
	var out strings.Builder
	var para []string
	flush := func() error {
		if len(para) == 0 {
			return nil
		}
		s, err := inlineHTML(strings.Join(para, " "), img)
		if err != nil {
			return err
		}
		out.WriteString("<p>" + s + "</p>\n")
		para = nil
		return nil
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trim := strings.TrimSpace(line)
		switch {
		case trim == "":
			if err := flush(); err != nil {
				return "", err
			}
		case strings.HasPrefix(trim, "```"):
			if err := flush(); err != nil {
				return "", err
			}
			fence := trim[:len(trim)-len(strings.TrimLeft(trim, "`"))]
			lang := strings.TrimSpace(trim[len(fence):])
			var code []string
			for i++; i < len(lines); i++ {
				t := strings.TrimSpace(lines[i])
				if strings.HasPrefix(t, fence) && strings.Trim(t, "`") == "" {
					break
				}
				code = append(code, lines[i])
			}
			class := ""
			if lang != "" {
				class = ` class="language-` + html.EscapeString(lang) + `"`
			}
			out.WriteString("<pre><code" + class + ">" + html.EscapeString(strings.Join(code, "\n")) + "</code></pre>\n")
		case headingRE.MatchString(trim):
			if err := flush(); err != nil {
				return "", err
			}
			m := headingRE.FindStringSubmatch(trim)
			s, err := inlineHTML(strings.TrimRight(m[2], " #"), img)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&out, "<h%d>%s</h%d>\n", len(m[1]), s, len(m[1]))
		case strings.HasPrefix(trim, "|") && i+1 < len(lines) && isAlignRow(lines[i+1]):
			if err := flush(); err != nil {
				return "", err
			}
			end := i + 2
			for end < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[end]), "|") {
				end++
			}
			t, err := tableHTML(lines[i], lines[i+1], lines[i+2:end], img)
			if err != nil {
				return "", err
			}
			out.WriteString(t)
			i = end - 1
		case strings.HasPrefix(trim, "- ") || strings.HasPrefix(trim, "* "):
			if err := flush(); err != nil {
				return "", err
			}
			out.WriteString("<ul>\n")
			for ; i < len(lines); i++ {
				t := strings.TrimSpace(lines[i])
				if !strings.HasPrefix(t, "- ") && !strings.HasPrefix(t, "* ") {
					break
				}
				s, err := inlineHTML(t[2:], img)
				if err != nil {
					return "", err
				}
				out.WriteString("<li>" + s + "</li>\n")
			}
			out.WriteString("</ul>\n")
			i--
		default:
			para = append(para, trim)
		}
	}
	if err := flush(); err != nil {
		return "", err
	}
	return out.String(), nil
}

var (
	headingRE = regexp.MustCompile(`^(#{1,6})\s+(.*)$`)
	alignRE   = regexp.MustCompile(`^:?-+:?$`)
)

// splitRow splits a pipe-table row into trimmed cells: pipes inside code
// spans or escaped as \| do not split.
func splitRow(line string) []string {
	s := strings.TrimSpace(line)
	s = strings.TrimPrefix(s, "|")
	if strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) {
		s = s[:len(s)-1]
	}
	var cells []string
	var cur strings.Builder
	inCode := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case s[i] == '`':
			inCode = !inCode
			cur.WriteByte('`')
		case s[i] == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func isAlignRow(line string) bool {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "|") {
		return false
	}
	for _, c := range splitRow(t) {
		if !alignRE.MatchString(c) {
			return false
		}
	}
	return true
}

func tableHTML(header, align string, rows []string, img func(string) (string, error)) (string, error) {
	var aligns []string
	for _, c := range splitRow(align) {
		switch {
		case strings.HasPrefix(c, ":") && strings.HasSuffix(c, ":"):
			aligns = append(aligns, "center")
		case strings.HasSuffix(c, ":"):
			aligns = append(aligns, "right")
		case strings.HasPrefix(c, ":"):
			aligns = append(aligns, "left")
		default:
			aligns = append(aligns, "")
		}
	}
	var b strings.Builder
	row := func(line, tag string) error {
		b.WriteString("<tr>")
		for j, c := range splitRow(line) {
			s, err := inlineHTML(c, img)
			if err != nil {
				return err
			}
			attr := ""
			if j < len(aligns) && aligns[j] != "" {
				attr = ` style="text-align:` + aligns[j] + `"`
			}
			fmt.Fprintf(&b, "<%s%s>%s</%s>", tag, attr, s, tag)
		}
		b.WriteString("</tr>\n")
		return nil
	}
	b.WriteString("<table>\n<thead>\n")
	if err := row(header, "th"); err != nil {
		return "", err
	}
	b.WriteString("</thead>\n<tbody>\n")
	for _, r := range rows {
		if err := row(r, "td"); err != nil {
			return "", err
		}
	}
	b.WriteString("</tbody>\n</table>\n")
	return b.String(), nil
}

// inlineHTML renders inline markdown: `code`, **strong**, ![alt](src),
// [text](href) and backslash escapes; everything else is escaped text.
func inlineHTML(s string, img func(string) (string, error)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		rest := s[i:]
		switch {
		case rest[0] == '\\' && len(rest) > 1 && strings.ContainsRune("\\`*_[]()#|!<>-", rune(rest[1])):
			b.WriteString(html.EscapeString(rest[1:2]))
			i += 2
		case rest[0] == '`':
			if j := strings.IndexByte(rest[1:], '`'); j >= 0 {
				b.WriteString("<code>" + html.EscapeString(rest[1:1+j]) + "</code>")
				i += j + 2
				continue
			}
			b.WriteString("`")
			i++
		case strings.HasPrefix(rest, "**"):
			if j := strings.Index(rest[2:], "**"); j > 0 {
				inner, err := inlineHTML(rest[2:2+j], img)
				if err != nil {
					return "", err
				}
				b.WriteString("<strong>" + inner + "</strong>")
				i += j + 4
				continue
			}
			b.WriteString("**")
			i += 2
		case strings.HasPrefix(rest, "!["):
			if m := linkRE.FindStringSubmatch(rest[1:]); m != nil {
				src, err := img(m[2])
				if err != nil {
					return "", err
				}
				fmt.Fprintf(&b, `<img alt="%s" src="%s">`, html.EscapeString(m[1]), html.EscapeString(src))
				i += 1 + len(m[0])
				continue
			}
			b.WriteString("!")
			i++
		case rest[0] == '[':
			if m := linkRE.FindStringSubmatch(rest); m != nil {
				inner, err := inlineHTML(m[1], img)
				if err != nil {
					return "", err
				}
				if strings.HasPrefix(m[2], "#") {
					fmt.Fprintf(&b, `<a href="%s">%s</a>`, html.EscapeString(m[2]), inner)
				} else {
					b.WriteString(inner)
				}
				i += len(m[0])
				continue
			}
			b.WriteString("[")
			i++
		default:
			j := strings.IndexAny(rest[1:], "\\`*![")
			if j < 0 {
				j = len(rest)
			} else {
				j++
			}
			b.WriteString(html.EscapeString(rest[:j]))
			i += j
		}
	}
	return b.String(), nil
}

var linkRE = regexp.MustCompile(`^\[([^\]]*)\]\(([^)\s]*)\)`)
