package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/runner/config"
)

// Planning resolves and validates every trial of a run or sweep before any
// work starts: each plugin section against its plugin's schema (options of
// another plugin of the same kind are unused, not errors), derived defaults
// (loss.knn follows neighbours.k), the bounds that couple settings
// (knn <= neighbours.k, batch and clusters <= train images, pca_dims <=
// image size), the backend, and the trial's identity: the hash of its
// resolved config and of the identities of everything it reads.

// plannedPlugin is one plugin section of a trial, resolved.
type plannedPlugin struct {
	section string // dataset, backbone, loss
	plugin  string // as configured: a name or a path
	sha256  string // the pinned checksum of its executable ("": any)
	// given are the options handed to the plugin: the section's options
	// the plugin has, its own subsection's, and derived defaults.
	given core.Options
	// resolved are given with the plugin's defaults filled in.
	resolved core.Options
	desc     core.Description
}

func (p plannedPlugin) ref() rundir.Plugin {
	sum := sha256.Sum256([]byte(p.desc.Identity))
	return rundir.Plugin{Name: p.desc.Name, Version: p.desc.Version, Identity: p.desc.Identity, ID: hex.EncodeToString(sum[:4])}
}

// trialPlan is a validated trial: everything the run needs to start.
type trialPlan struct {
	cfg  *config.Config
	ds   plannedPlugin
	loss plannedPlugin // empty when planned without a loss (embed)
	// spaces are the representation spaces, one per backbone section, in
	// the config's order (sorted by name); used says which the methods use.
	spaces   []plannedSpace
	dsInfo   core.DatasetInfo
	classes  int
	clusters int
	trainN   int
	// identity is the sha256 of the resolved config (without the names of
	// the experiment, trial and folders) and the plugins' identities.
	identity string
	trial    string
	runDir   string
	cfgYAML  []byte
	unused   []rundir.Unused
	// sweep places the trial in its sweep (nil for a single run).
	sweep *rundir.SweepInfo
}

// plannedSpace is one representation space of a trial: its backbone
// section, resolved.
type plannedSpace struct {
	name string // the space's name: its key under backbones:, or the plugin's name
	bb   plannedPlugin
	info core.BackboneInfo
	used bool // whether the methods of the run use it (config key space)
}

// several says whether the trial names several spaces (backbones:), so its
// records list them; a backbone: config keeps its single-space records.
func (t *trialPlan) several() bool {
	return len(t.cfg.Backbones) > 0 && t.cfg.Backbones[0].Space != ""
}

// usedSpaces are the spaces the methods of the trial use, in order.
func (t *trialPlan) usedSpaces() []plannedSpace {
	var out []plannedSpace
	for _, s := range t.spaces {
		if s.used {
			out = append(out, s)
		}
	}
	return out
}

func (t *trialPlan) inputs() rundir.Inputs {
	in := rundir.Inputs{Dataset: t.ds.ref(), Loss: t.loss.ref()}
	if !t.several() {
		var bb plannedPlugin // none when planning stopped before the backbone
		if len(t.spaces) > 0 {
			bb = t.spaces[0].bb
		}
		in.Backbone = bb.ref()
		return in
	}
	for _, s := range t.spaces {
		in.Spaces = append(in.Spaces, rundir.Space{Name: s.name, Backbone: s.bb.ref(), Used: s.used})
	}
	return in
}

// pluginBook launches each plugin once while planning and remembers its
// schema and the descriptions it gave, so a sweep of many trials costs one
// launch per plugin. Planning is sequential: it needs no lock.
type pluginBook struct {
	ctx       context.Context
	clients   map[string]*plugins.Client
	launchErr map[string]error
	described map[string]describeResult
	installed map[string][]core.Description // kind -> every discovered plugin's description
}

type describeResult struct {
	ds  core.DatasetInfo
	bb  core.BackboneInfo
	d   core.Description
	err error
}

func newPluginBook(ctx context.Context) *pluginBook {
	return &pluginBook{ctx: ctx, clients: map[string]*plugins.Client{}, launchErr: map[string]error{},
		described: map[string]describeResult{}, installed: map[string][]core.Description{}}
}

func (b *pluginBook) close() {
	for _, c := range b.clients {
		c.Kill()
	}
}

// client launches a plugin once; pin is its pinned sha256 ("" for none).
func (b *pluginBook) client(kind, nameOrPath, pin string) (*plugins.Client, error) {
	key := kind + "\x00" + nameOrPath + "\x00" + pin
	if c, ok := b.clients[key]; ok {
		return c, nil
	}
	if err, ok := b.launchErr[key]; ok {
		return nil, err
	}
	var opts []plugins.LaunchOption
	if pin != "" {
		opts = append(opts, plugins.WithSHA256(pin))
	}
	c, err := plugins.Launch(b.ctx, kind, nameOrPath, opts...)
	if err != nil {
		b.launchErr[key] = err
		return nil, err
	}
	b.clients[key] = c
	return c, nil
}

// describe calls the section plugin's Describe with opts, once per
// distinct opts.
func (b *pluginBook) describe(kind string, sec config.Section, opts core.Options) describeResult {
	key := kind + "\x00" + sec.Plugin + "\x00" + sec.SHA256 + "\x00" + opts.Canonical()
	if r, ok := b.described[key]; ok {
		return r
	}
	c, err := b.client(kind, sec.Plugin, sec.SHA256)
	if err != nil {
		return describeResult{err: err}
	}
	var r describeResult
	switch kind {
	case core.KindDataset:
		r.ds, r.err = c.Dataset().Describe(b.ctx, opts)
		r.d = r.ds.Description
	case core.KindBackbone:
		r.bb, r.err = c.Backbone().Describe(b.ctx, opts)
		r.d = r.bb.Description
	case core.KindLoss:
		r.d, r.err = c.Loss().Describe(b.ctx, opts)
	}
	if b.ctx.Err() == nil {
		b.described[key] = r
	}
	return r
}

// others returns the descriptions of every installed plugin of kind, to
// tell an option of another plugin (unused) from a typo (an error).
func (b *pluginBook) others(kind string) []core.Description {
	if d, ok := b.installed[kind]; ok {
		return d
	}
	found, _ := plugins.Discover()
	var out []core.Description
	for _, f := range found {
		if f.Kind != kind {
			continue
		}
		c, err := b.client(kind, f.Path, "")
		if err != nil {
			continue // a broken plugin is reported by `clusterlab plugins`
		}
		out = append(out, c.Description())
	}
	b.installed[kind] = out
	return out
}

// byName finds an installed plugin of kind by its name.
func (b *pluginBook) byName(kind, name string) (core.Description, bool) {
	for _, d := range b.others(kind) {
		if d.Name == name {
			return d, true
		}
	}
	return core.Description{}, false
}

func hasOption(schema []core.Option, name string) (core.Option, bool) {
	for _, o := range schema {
		if o.Name == name {
			return o, true
		}
	}
	return core.Option{}, false
}

func optionNames(schema []core.Option) []string {
	var names []string
	for _, o := range schema {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	return names
}

// didYouMean suggests the option closest to a misspelt name among the
// selected plugin's and then the other plugins' of its kind, when one is
// close (at most two edits, one for short names).
func didYouMean(name string, selected core.Description, others []core.Description) string {
	best, bestD, of := "", 3, ""
	if len(name) <= 4 {
		bestD = 2
	}
	for _, d := range append([]core.Description{selected}, others...) {
		for _, o := range d.Options {
			if dist := editDistance(name, o.Name); dist < bestD {
				best, bestD, of = o.Name, dist, d.Name
			}
		}
	}
	switch {
	case best == "":
		return ""
	case of != selected.Name:
		var owners []string
		for _, d := range others {
			if _, ok := hasOption(d.Options, best); ok && !slices.Contains(owners, d.Name) {
				owners = append(owners, d.Name)
			}
		}
		return fmt.Sprintf(" (did you mean %s, an option of %s?)", best, strings.Join(owners, ", "))
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// quantity is a run quantity options may refer to (core.Ref*).
type quantity struct {
	value float64
	what  string // for messages: "neighbours.k = 10 (--set neighbours.k=10)"
}

// selectOptions picks, from a plugin section, the options the selected
// plugin has (its own subsection's override the section level), lists
// the ones that belong to other plugins of the kind as unused, fills in
// derived defaults and reports unknown options with their source.
func (b *pluginBook) selectOptions(cfg *config.Config, sec config.Section, kind string, c *plugins.Client, q map[string]quantity) (core.Options, []rundir.Unused, []error) {
	desc := c.Description()
	given := core.Options{}
	var unused []rundir.Unused
	var errs []error
	keys := make([]string, 0, len(sec.Options))
	for k := range sec.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := hasOption(desc.Options, k); ok {
			given[k] = sec.Options[k]
			continue
		}
		key := sec.Name + "." + k
		var of []string
		for _, d := range b.others(kind) {
			if _, ok := hasOption(d.Options, k); ok && d.Name != desc.Name {
				of = append(of, d.Name)
			}
		}
		if len(of) > 0 {
			unused = append(unused, rundir.Unused{Key: key, Source: cfg.SourceOf(key).String(), Of: of})
			continue
		}
		errs = append(errs, cfg.ErrorAt(key, "unknown option%s: %s plugin %s has %s, and no other installed %s plugin has %q",
			didYouMean(k, desc, b.others(kind)), kind, desc.Name, strings.Join(optionNames(desc.Options), ", "), kind, k))
	}
	subs := make([]string, 0, len(sec.PerPlugin))
	for s := range sec.PerPlugin {
		subs = append(subs, s)
	}
	sort.Strings(subs)
	for _, sub := range subs {
		opts := sec.PerPlugin[sub]
		schema := desc.Options
		selected := sub == desc.Name || sub == sec.Plugin
		if !selected {
			d, ok := b.byName(kind, sub)
			if !ok {
				var names []string
				for _, d := range b.others(kind) {
					names = append(names, d.Name)
				}
				errs = append(errs, cfg.ErrorAt(sec.Name+"."+sub, "a subsection holds the options of the %s plugin it is named after, and no %s plugin is named %q (installed: %s)",
					kind, kind, sub, strings.Join(names, ", ")))
				continue
			}
			schema = d.Options
		}
		names := make([]string, 0, len(opts))
		for k := range opts {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			key := sec.Name + "." + sub + "." + k
			if _, ok := hasOption(schema, k); !ok {
				errs = append(errs, cfg.ErrorAt(key, "unknown option of %s plugin %s%s; its options are %s", kind, sub, didYouMean(k, core.Description{Name: sub, Options: schema}, nil), strings.Join(optionNames(schema), ", ")))
				continue
			}
			if selected {
				given[k] = opts[k]
			} else {
				unused = append(unused, rundir.Unused{Key: key, Source: cfg.SourceOf(key).String(), Of: []string{sub}})
			}
		}
	}
	for _, o := range desc.Options {
		if o.DefaultFrom == "" {
			continue
		}
		if _, set := given[o.Name]; set {
			continue
		}
		if v, ok := q[o.DefaultFrom]; ok {
			given[o.Name] = int64(v.value)
		}
	}
	return given, unused, errs
}

// checkBounds checks the options' AtMost references against the run's
// quantities, naming both settings.
func checkBounds(cfg *config.Config, sec string, schema []core.Option, resolved core.Options, q map[string]quantity) []error {
	var errs []error
	for _, o := range schema {
		for _, ref := range o.AtMost {
			lim, ok := q[ref]
			v, set := resolved[o.Name]
			if !ok || !set {
				continue
			}
			if f := resolved.Float(o.Name); f > lim.value {
				key := sec + "." + o.Name
				fix := "lower " + key
				if ref == core.RefNeighboursK {
					fix += " or raise " + ref
				}
				errs = append(errs, cfg.ErrorAt(key, "%v exceeds %s; %s", v, lim.what, fix))
			}
		}
	}
	return errs
}

// planSection resolves one section of cfg against its plugin: the client
// (launched once per book), the options the section gives it (unused ones
// listed), its Describe of them and the options resolved by its schema. q
// holds the quantities derived defaults and bounds refer to (nil: none).
// With errors, the plugin is planned as far as it got.
func (b *pluginBook) planSection(cfg *config.Config, sec config.Section, kind string, q map[string]quantity) (plannedPlugin, describeResult, []rundir.Unused, []error) {
	pp := plannedPlugin{section: sec.Name, plugin: sec.Plugin, sha256: sec.SHA256}
	c, err := b.client(kind, sec.Plugin, sec.SHA256)
	if err != nil {
		return pp, describeResult{}, nil, []error{wrapPluginErr(cfg, sec.Name, err)}
	}
	given, unused, es := b.selectOptions(cfg, sec, kind, c, q)
	if len(es) > 0 {
		return pp, describeResult{}, unused, es
	}
	r := b.describe(kind, sec, given)
	if r.err != nil {
		return pp, r, unused, []error{wrapPluginErr(cfg, sec.Name, r.err)}
	}
	pp.given, pp.desc = given, r.d
	pp.resolved, err = core.ResolveOptions(r.d.Options, given)
	if err != nil { // the plugin accepted what its schema rejects
		return pp, r, unused, []error{fmt.Errorf("%s plugin %s accepted options its own schema rejects: %w", kind, r.d.Name, err)}
	}
	return pp, r, unused, nil
}

// planTrial resolves and validates one trial. withLoss is false for
// `clusterlab embed`, which needs the dataset and backbone only.
func (b *pluginBook) planTrial(cfg *config.Config, withLoss bool) (*trialPlan, []error) {
	p := &trialPlan{cfg: cfg}
	var errs []error
	add := func(es ...error) { errs = append(errs, es...) }
	q := map[string]quantity{
		core.RefNeighboursK: {float64(cfg.Neighbours.K), fmt.Sprintf("neighbours.k = %d (%s)", cfg.Neighbours.K, cfg.SourceOf("neighbours.k"))},
	}

	// plan one section: select its options, describe, check bounds.
	section := func(sec config.Section, kind string) (plannedPlugin, describeResult, bool) {
		pp, r, unused, errs := b.planSection(cfg, sec, kind, q)
		p.unused = append(p.unused, unused...)
		add(errs...)
		if len(errs) > 0 {
			return pp, r, false
		}
		bounds := checkBounds(cfg, sec.Name, r.d.Options, pp.resolved, q)
		add(bounds...)
		return pp, r, len(bounds) == 0
	}

	ds, dr, dsOK := section(cfg.Dataset, core.KindDataset)
	p.ds, p.dsInfo = ds, dr.ds
	if dsOK {
		train, ok := dr.ds.Split(core.SplitTrain)
		if !ok {
			add(cfg.ErrorAt("dataset", "dataset %s has no train split (it has %s)", dr.ds.Name, splitNames(dr.ds)))
			dsOK = false
		} else {
			p.trainN = train.Count
			what := fmt.Sprintf("the %d train images of dataset %s", train.Count, dr.ds.Name)
			q[core.RefTrainSamples] = quantity{float64(train.Count), what}
			geo := dr.ds.Height * dr.ds.Width * dr.ds.Channels
			if geo > 0 {
				q[core.RefImageValues] = quantity{float64(geo), fmt.Sprintf("the %d values of one %dx%dx%d image of dataset %s", geo, dr.ds.Height, dr.ds.Width, dr.ds.Channels, dr.ds.Name)}
			}
		}
	}
	bbOK := true
	for _, sec := range cfg.Backbones {
		bb, br, ok := section(sec, core.KindBackbone)
		bbOK = bbOK && ok
		name := sec.Space
		if name == "" {
			name = br.bb.Name
		}
		used := cfg.Space == "" || cfg.Space == name
		p.spaces = append(p.spaces, plannedSpace{name: name, bb: bb, info: br.bb, used: used})
	}
	lossOK := true
	if withLoss {
		p.loss, _, lossOK = section(cfg.Loss, core.KindLoss)
	}

	// The runner's own settings against the data.
	if err := backend.Check(cfg.Backend); err != nil {
		add(cfg.ErrorAt("backend", "%v", err))
	}
	if dsOK && withLoss { // embed needs neither clusters nor neighbours
		p.classes = len(p.dsInfo.Classes)
		p.clusters = cfg.Clusters
		if p.clusters == 0 {
			p.clusters = p.classes
		}
		switch {
		case p.clusters == 0 && p.classes == 0:
			add(cfg.ErrorAt("clusters", "dataset %s has no labels, so the number of clusters cannot come from its classes; set clusters (e.g. --set clusters=10)", p.dsInfo.Name))
		case p.clusters < 2:
			add(cfg.ErrorAt("clusters", "need at least 2 clusters (dataset %s has %d classes); set clusters", p.dsInfo.Name, p.classes))
		case p.clusters > p.trainN:
			add(cfg.ErrorAt("clusters", "%d clusters for %d train samples; lower clusters", p.clusters, p.trainN))
		}
		if cfg.Neighbours.K >= p.trainN && !p.loss.desc.NoNeighbours {
			add(cfg.ErrorAt("neighbours.k", "%d neighbours need more than the %d train images; lower neighbours.k", cfg.Neighbours.K, p.trainN))
		}
		if cfg.Baselines.KNNClassifier && cfg.Baselines.KNNClassifierK > p.trainN {
			add(cfg.ErrorAt("baselines.knn_classifier_k", "%d neighbours exceed the %d train images; lower baselines.knn_classifier_k", cfg.Baselines.KNNClassifierK, p.trainN))
		}
	}
	if len(errs) > 0 || !dsOK || !bbOK || !lossOK {
		return p, errs
	}

	// Names, identity and run directory.
	resolved := map[string]core.Options{"dataset": p.ds.resolved}
	inputs := map[string]any{"dataset": p.ds.desc.Identity, "loss": p.loss.desc.Identity}
	if !p.several() {
		resolved["backbone"] = p.spaces[0].bb.resolved
		inputs["backbone"] = p.spaces[0].bb.desc.Identity
	} else {
		ids := map[string]string{}
		for _, s := range p.spaces {
			resolved[s.bb.section] = s.bb.resolved
			ids[s.name] = s.bb.desc.Identity
		}
		inputs[config.KeyBackbones] = ids
	}
	if withLoss {
		resolved["loss"] = p.loss.resolved
	}
	m := cfg.Map(resolved)
	for _, k := range []string{"experiment", "trial", "runs_dir", "cache_dir"} {
		delete(m, k)
	}
	doc, err := json.Marshal(map[string]any{"config": m, "inputs": inputs})
	if err != nil {
		return p, []error{err}
	}
	sum := sha256.Sum256(doc)
	p.identity = hex.EncodeToString(sum[:])
	p.trial = cfg.Trial
	if ti := cfg.TrialInfo; ti != nil {
		// Swept keys no plugin of this trial uses leave its name: the
		// scan trials of a loss.beta grid are one trial.
		variant, grid := copyWithout(ti.Variant, p.unused), copyWithout(ti.Grid, p.unused)
		name := config.VariantName(ti.Name, variant, grid)
		p.trial = config.TrialName(name, cfg.Seed)
		p.sweep = &rundir.SweepInfo{Index: ti.Index, Variant: variant, VariantName: name}
	}
	if p.trial == "" {
		p.trial = fmt.Sprintf("seed%d-%s", cfg.Seed, p.identity[:8])
	}
	named := *cfg
	named.Trial = p.trial
	if p.cfgYAML, err = named.YAML(resolved); err != nil {
		return p, []error{err}
	}
	p.runDir = filepath.Join(cfg.RunsDir, cfg.Experiment, p.trial)
	return p, nil
}

// copyWithout copies m without the keys listed as unused.
func copyWithout(m map[string]any, unused []rundir.Unused) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if !slices.ContainsFunc(unused, func(u rundir.Unused) bool { return u.Key == k }) {
			out[k] = v
		}
	}
	return out
}

func splitNames(info core.DatasetInfo) string {
	var names []string
	for _, s := range info.Splits {
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return "no splits"
	}
	return strings.Join(names, ", ")
}

// wrapPluginErr turns a plugin's error about a section into a config error
// naming the key and its source when the plugin said which option is at
// fault (a *core.OptionError, typed on the wire), and otherwise says which
// section's plugin it came from.
func wrapPluginErr(cfg *config.Config, section string, err error) error {
	var nf *plugins.NotFoundError
	if errors.As(err, &nf) {
		return &config.Error{Source: cfg.SourceOf(section + ".plugin"), Key: section + ".plugin", Msg: err.Error()}
	}
	var ce *plugins.ChecksumError
	if errors.As(err, &ce) {
		key := section + "." + config.KeySHA256
		return &config.Error{Source: cfg.SourceOf(key), Key: key, Msg: err.Error()}
	}
	if e := cfg.OptionError(section, err); e != err {
		return e
	}
	if errors.Is(err, core.ErrInvalidInput) || plugins.IsInvalidInput(err) {
		return core.InvalidInput(fmt.Errorf("%s (%s): %w", section, cfg.SourceOf(section), err))
	}
	return fmt.Errorf("%s plugin: %w", section, err)
}

// planError lists every invalid trial with its reasons; nothing was run.
type planError struct {
	trials int // trials planned
	bad    []trialErrors
}

type trialErrors struct {
	trial string
	errs  []error
}

func (e *planError) Error() string {
	if e.trials <= 1 && len(e.bad) == 1 {
		var msgs []string
		for _, err := range e.bad[0].errs {
			msgs = append(msgs, err.Error())
		}
		if len(msgs) == 1 {
			return msgs[0]
		}
		return fmt.Sprintf("%d problems; nothing was run:\n  %s", len(msgs), strings.Join(msgs, "\n  "))
	}
	// Group trials by identical reasons: a bad key of the base config
	// makes every trial invalid in the same way.
	type group struct {
		reasons string
		trials  []string
	}
	var groups []*group
	byReasons := map[string]*group{}
	for _, t := range e.bad {
		var msgs []string
		for _, err := range t.errs {
			msgs = append(msgs, err.Error())
		}
		r := strings.Join(msgs, "\n    ")
		g := byReasons[r]
		if g == nil {
			g = &group{reasons: r}
			byReasons[r] = g
			groups = append(groups, g)
		}
		g.trials = append(g.trials, t.trial)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d trials are invalid; nothing was run:", len(e.bad), e.trials)
	for _, g := range groups {
		fmt.Fprintf(&b, "\n  trial %s:\n    %s", strings.Join(g.trials, ", "), g.reasons)
	}
	return b.String()
}

// Is makes a plan error invalid input when every reason is.
func (e *planError) Is(target error) bool {
	if target != core.ErrInvalidInput {
		return false
	}
	for _, t := range e.bad {
		for _, err := range t.errs {
			if !errors.Is(err, core.ErrInvalidInput) && !plugins.IsInvalidInput(err) {
				return false
			}
		}
	}
	return true
}

// planRun plans the trials of cfg (one, or a sweep's), all before any work.
// Trials that resolve to the same trial (a swept key unused by the
// trial's plugin) are merged. The returned notes say what was merged and
// which options are unused.
func planRun(ctx context.Context, cfg *config.Config, withLoss bool) ([]*trialPlan, error) {
	b := newPluginBook(ctx)
	defer b.close()
	cfgs := []*config.Config{cfg}
	if cfg.Sweep != nil {
		cfgs = cfg.Sweep.Trials
	}
	var plans []*trialPlan
	perr := &planError{trials: len(cfgs)}
	for _, c := range cfgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, errs := b.planTrial(c, withLoss)
		if len(errs) > 0 {
			name := c.Trial
			if name == "" {
				name = fmt.Sprintf("seed%d", c.Seed)
			}
			perr.bad = append(perr.bad, trialErrors{trial: name, errs: errs})
			continue
		}
		plans = append(plans, p)
	}
	if len(perr.bad) > 0 {
		return nil, perr
	}
	// Merge trials that are the same trial.
	var out []*trialPlan
	byName := map[string]*trialPlan{}
	merged := map[string][]string{} // final variant name -> the variants merged into it
	for _, p := range plans {
		first, ok := byName[p.trial]
		if !ok {
			byName[p.trial] = p
			out = append(out, p)
			continue
		}
		if first.identity != p.identity {
			perr.bad = append(perr.bad, trialErrors{trial: p.cfg.Trial, errs: []error{
				&config.Error{Source: p.cfg.SourceOf("sweep"), Key: "sweep", Msg: fmt.Sprintf("trials %s and %s are both named %s but differ; give the variants distinct names", first.cfg.Trial, p.cfg.Trial, p.trial)}}})
			continue
		}
		v := p.sweep.VariantName
		for _, orig := range []string{first.cfg.TrialInfo.VariantName, p.cfg.TrialInfo.VariantName} {
			if !slices.Contains(merged[v], orig) {
				merged[v] = append(merged[v], orig)
			}
		}
	}
	if len(perr.bad) > 0 {
		return nil, perr
	}
	for i, p := range out {
		if p.sweep != nil {
			p.sweep.Index = i
		}
	}
	// Say once what is unused and what was merged.
	seen := map[string]bool{}
	for _, p := range out {
		for _, u := range p.unused {
			line := fmt.Sprintf("note: %s (%s) is an option of %s, not of the %s plugin %s: unused", u.Key, u.Source, strings.Join(u.Of, ", "), sectionOf(u.Key), pluginOf(p, u.Key))
			if !seen[line] {
				seen[line] = true
				logf("%s", line)
			}
		}
	}
	for _, p := range out {
		if p.sweep == nil {
			continue
		}
		if m := merged[p.sweep.VariantName]; len(m) > 0 {
			logf("note: the variants %s are one variant, %s: the swept values that tell them apart are unused by its plugins; it runs once per seed", strings.Join(m, ", "), p.sweep.VariantName)
			delete(merged, p.sweep.VariantName)
		}
	}
	return out, nil
}

func sectionOf(key string) string {
	s, _, _ := strings.Cut(key, ".")
	return s
}

func pluginOf(p *trialPlan, key string) string {
	switch sectionOf(key) {
	case "dataset":
		return p.ds.desc.Name
	case "backbone", config.KeyBackbones:
		for _, s := range p.spaces {
			if strings.HasPrefix(key, s.bb.section+".") {
				return s.bb.desc.Name
			}
		}
	}
	return p.loss.desc.Name
}
