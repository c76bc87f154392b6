package core

import (
	"fmt"
	"reflect"
)

// Decode resolves given against schema (see ResolveOptions: an unknown key,
// a missing required option, a wrong type or a value out of range is an
// *OptionError naming it) and stores each option in the field of dst, a
// pointer to a struct, whose tag is `option:"<name>"`. It returns the
// resolved options too (for identities and canonical forms).
//
// Field types: int, int64 or float64 for TypeInt, float64 for TypeFloat,
// bool for TypeBool, string for TypeString; a pointer to one of these for
// an Optional option, left nil when unset. Every option of the schema needs
// a field and every tagged field an option: a mismatch is the plugin's bug
// and is reported as such (not as the user's input), so that no option is
// ever read as a silent zero.
func Decode(schema []Option, given Options, dst any) (Options, error) {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("decode options: want a pointer to a struct, got %T", dst)
	}
	fields := map[string]reflect.Value{}
	if err := taggedFields(v.Elem(), fields); err != nil {
		return nil, err
	}
	byName := map[string]Option{}
	for _, o := range schema {
		byName[o.Name] = o
		if _, ok := fields[o.Name]; !ok {
			return nil, fmt.Errorf("decode options: %T has no field for option %q (tag a field `option:%q`)", dst, o.Name, o.Name)
		}
	}
	for name := range fields {
		if _, ok := byName[name]; !ok {
			return nil, fmt.Errorf("decode options: %T has a field for option %q, which the schema does not declare", dst, name)
		}
	}
	resolved, err := ResolveOptions(schema, given)
	if err != nil {
		return nil, err
	}
	for name, f := range fields {
		val, set := resolved[name]
		if !set {
			if f.Kind() != reflect.Pointer {
				return nil, fmt.Errorf("decode options: option %q is optional, so its field must be a pointer", name)
			}
			f.Set(reflect.Zero(f.Type()))
			continue
		}
		target := f
		if f.Kind() == reflect.Pointer {
			target = reflect.New(f.Type().Elem()).Elem()
		}
		if err := assign(target, byName[name], val); err != nil {
			return nil, err
		}
		if f.Kind() == reflect.Pointer {
			p := reflect.New(target.Type())
			p.Elem().Set(target)
			f.Set(p)
		}
	}
	return resolved, nil
}

// taggedFields collects the fields tagged `option:"..."` of struct v and of
// the structs it embeds (so options shared by several plugins can live in
// one struct, embedded by each).
func taggedFields(v reflect.Value, fields map[string]reflect.Value) error {
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name, ok := f.Tag.Lookup("option")
		if !ok {
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				if err := taggedFields(v.Field(i), fields); err != nil {
					return err
				}
			}
			continue
		}
		if !v.Field(i).CanSet() {
			return fmt.Errorf("decode options: field %s (option %q) is not exported", f.Name, name)
		}
		if _, dup := fields[name]; dup {
			return fmt.Errorf("decode options: two fields for option %q", name)
		}
		fields[name] = v.Field(i)
	}
	return nil
}

// assign stores a resolved value (int64, float64, bool or string) in f.
func assign(f reflect.Value, o Option, val any) error {
	switch x := val.(type) {
	case int64:
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(x)
			return nil
		case reflect.Float64:
			f.SetFloat(float64(x))
			return nil
		}
	case float64:
		if f.Kind() == reflect.Float64 {
			f.SetFloat(x)
			return nil
		}
	case bool:
		if f.Kind() == reflect.Bool {
			f.SetBool(x)
			return nil
		}
	case string:
		if f.Kind() == reflect.String {
			f.SetString(x)
			return nil
		}
	}
	return fmt.Errorf("decode options: option %q of type %s cannot go into a field of type %s", o.Name, o.Type, f.Type())
}
