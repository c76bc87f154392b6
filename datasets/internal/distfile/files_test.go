package distfile

import (
	"errors"
	"slices"
	"testing"
)

// TestRecent: a hit moves its key to the most recent place, the least
// recent key is dropped past the size, and neither a failed load nor the
// key "" is kept.
func TestRecent(t *testing.T) {
	r := NewRecent[int](2)
	loads := 0
	get := func(key string, v int, fail bool) (int, bool, error) {
		return r.Get(key, func() (int, error) {
			loads++
			if fail {
				return 0, errors.New("bad")
			}
			return v, nil
		})
	}
	if _, _, err := get("a", 1, true); err == nil {
		t.Fatal("a failed load gave no error")
	}
	for _, c := range []struct {
		key     string
		v, want int
		hit     bool
	}{{"a", 1, 1, false}, {"b", 2, 2, false}, {"a", 9, 1, true}, {"c", 3, 3, false}, {"b", 8, 8, false}, {"c", 7, 3, true}, {"", 5, 5, false}, {"", 6, 6, false}} {
		v, hit, err := get(c.key, c.v, false)
		if err != nil || v != c.want || hit != c.hit {
			t.Errorf("Get(%q) = %d, %v, %v; want %d, %v", c.key, v, hit, err, c.want, c.hit)
		}
	}
	if loads != 7 {
		t.Errorf("%d loads, want 7", loads)
	}
}

func TestClassNames(t *testing.T) {
	names, blank, off := ClassNames([]byte("airplane\r\n automobile \nbird\n\n\n"))
	if !slices.Equal(names, []string{"airplane", "automobile", "bird"}) || blank != 0 || off != 0 {
		t.Errorf("got %q, %d, %d", names, blank, off)
	}
	if names, blank, off = ClassNames([]byte("a\n\nc\n")); len(names) != 3 || blank != 2 || off != 2 {
		t.Errorf("blank line: got %q, %d, %d", names, blank, off)
	}
	if names, _, _ = ClassNames([]byte("\n \n")); len(names) != 0 {
		t.Errorf("no names: got %q", names)
	}
}
