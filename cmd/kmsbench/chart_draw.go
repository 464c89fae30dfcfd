package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/font/inconsolata"
	"golang.org/x/image/math/fixed"
)

// Inconsolata 8x16 rather than basicfont's 7x13: it stays readable on a
// 1400 px wide image, covers Latin-1 (÷), and every glyph is 8 px wide, so
// text width is a count of runes.
var (
	faceText = inconsolata.Regular8x16
	faceBold = inconsolata.Bold8x16
)

const glyphW = 8

// Grey is the baseline in both panels; blue is kmsnode.
var (
	colBG        = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colStripe    = color.RGBA{0xf2, 0xf4, 0xf7, 0xff}
	colSection   = color.RGBA{0xdc, 0xe3, 0xed, 0xff}
	colGrid      = color.RGBA{0xcc, 0xd0, 0xd6, 0xff}
	colGridMinor = color.RGBA{0xe4, 0xe6, 0xea, 0xff}
	colAxis      = color.RGBA{0x70, 0x70, 0x70, 0xff}
	colText      = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colMuted     = color.RGBA{0x5a, 0x5a, 0x5a, 0xff}
	colErr       = color.RGBA{0xc6, 0x28, 0x28, 0xff}
	colBase      = color.RGBA{0xa0, 0xa0, 0xa0, 0xff}
	colNode      = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colP50       = color.RGBA{0x9e, 0xca, 0xe1, 0xff}
	colP99       = color.RGBA{0x42, 0x92, 0xc6, 0xff}
	colP999      = color.RGBA{0x08, 0x45, 0x94, 0xff}
)

// Layout in pixels. The width is fixed; the height follows the rows, aiming
// at about 900 px but never letting a row get too short for four labelled
// latency bars.
const (
	chartW   = 1400
	margin   = 16
	aimH     = 900
	minRowH  = 64
	maxRowH  = 96
	sectionH = 28
	footH    = 84 // tick labels and two lines of notes

	labelW     = thrX - margin - 12
	thrX, thrW = 200, 400 // throughput scale; each value is written after its bar
	ratioX     = 720      // centre of the ratio column
	latX, latW = 800, 400 // latency scale
	p99X       = 1328     // centre of the p99 ratio column
)

type chartLayout struct {
	h, rowH                int
	titleY, lineY          int // baselines; subtitle lines are 20 px apart
	headY, legendY         int
	top, bottom            int // of the rows
	titleScale             int
	sections, rows, footY0 int
}

func planChart(cd *chartData) chartLayout {
	l := chartLayout{titleScale: 2, rows: cd.rows()}
	if textW(cd.Title, 2) > chartW-2*margin {
		l.titleScale = 1
	}
	l.titleY = 10 + faceBold.Ascent*l.titleScale
	l.lineY = l.titleY + 24
	l.headY = l.lineY + 20*max(len(cd.Lines)-1, 0) + 36
	l.legendY = l.headY + 22
	l.top = l.legendY + 14
	if cd.Headers {
		l.sections = len(cd.Sections)
	}
	avail := aimH - l.top - footH - l.sections*sectionH
	l.rowH = min(max(avail/max(l.rows, 1), minRowH), maxRowH)
	l.bottom = l.top + l.sections*sectionH + l.rows*l.rowH
	l.footY0 = l.bottom + 18
	l.h = l.bottom + footH
	return l
}

// drawChart paints the chart: a label column, then per row the throughput
// bars of the baseline and kmsnode with the ratio, and kmsnode's latency
// percentiles next to the baseline's p99 with the p99 ratio.
func drawChart(cd *chartData) *image.RGBA {
	l := planChart(cd)
	c := &canvas{image.NewRGBA(image.Rect(0, 0, chartW, l.h))}
	c.fill(c.img.Bounds(), colBG)
	full := chartW - 2*margin
	c.text(margin, l.titleY, fit(cd.Title, full, l.titleScale), faceBold, colText, l.titleScale)
	for i, s := range cd.Lines {
		c.text(margin, l.lineY+20*i, fit(s, full, 1), faceText, colMuted, 1)
	}

	c.text(thrX, l.headY, "throughput, ops/s (median): longer is faster", faceBold, colText, 1)
	c.centred(ratioX, l.headY, "ratio", faceBold, colText, 1)
	c.text(latX, l.headY, "latency, ms, log scale: shorter is faster", faceBold, colText, 1)
	c.centred(p99X, l.headY, "p99 ratio", faceBold, colText, 1)
	x := c.legend(thrX, l.legendY, colBase, "baseline")
	c.legend(x+20, l.legendY, colNode, "kmsnode")
	x = latX
	for _, e := range []struct {
		col color.RGBA
		s   string
	}{{colP50, "p50"}, {colP99, "p99"}, {colP999, "p99.9"}, {colBase, "baseline p99"}} {
		x = c.legend(x, l.legendY, e.col, e.s) + 20
	}
	c.centred(ratioX, l.legendY, "kmsnode÷base", faceText, colMuted, 1)
	c.centred(p99X, l.legendY, "kmsnode÷base", faceText, colMuted, 1)

	thr, lat := axesOf(cd)
	y, i := l.top, 0
	for _, sec := range cd.Sections {
		if cd.Headers {
			c.fill(image.Rect(margin, y+2, chartW-margin, y+sectionH-2), colSection)
			c.text(margin+6, y+sectionH/2+5, fit(sec.Header, full-12, 1), faceBold, colText, 1)
			y += sectionH
		}
		for _, r := range sec.Rows {
			c.row(r, y, l.rowH, i%2 == 1, thr, lat)
			y += l.rowH
			i++
		}
	}

	// Axes and tick labels under the rows (the vertical axes are drawn
	// with each row, so that they do not cross the section headers).
	c.fill(image.Rect(thrX-1, l.bottom, thrX+thrW+1, l.bottom+1), colAxis)
	c.fill(image.Rect(latX-1, l.bottom, latX+latW+1, l.bottom+1), colAxis)
	for k := 0; k <= thr.n; k++ {
		v := float64(k) * thr.step
		x := thrX + thr.px(v, thrW)
		c.fill(image.Rect(x, l.bottom, x+1, l.bottom+4), colAxis)
		c.centred(x, l.footY0, opsTick(v, thr.step), faceText, colMuted, 1)
	}
	for k := lat.lo; k <= lat.hi; k++ {
		x := latX + lat.px(math.Pow(10, float64(k)), latW)
		c.fill(image.Rect(x, l.bottom, x+1, l.bottom+4), colAxis)
		c.centred(x, l.footY0, decadeLabel(k), faceText, colMuted, 1)
	}
	// Units after the last tick label, which is centred on the axis end.
	c.text(latX+latW+32, l.footY0, "ms", faceText, colMuted, 1)
	c.text(thrX+thrW+32, l.footY0, "ops/s", faceText, colMuted, 1)

	for i, s := range []string{
		"ratio: kmsnode ops/s ÷ baseline ops/s, the median of the per-repetition ratios; 1.00 is as fast as a handler that does no work. p99 ratio: kmsnode p99 ÷ baseline p99.",
		"Latency: HTTP round trip of successful requests, nearest-rank percentiles, medians over the repetitions. Baseline: bench/baseline, net/http answering {\"ok\":true}.",
	} {
		c.text(margin, l.footY0+28+20*i, fit(s, full, 1), faceText, colMuted, 1)
	}
	return c.img
}

// row paints one bar group at y, h pixels high.
func (c *canvas) row(r chartRow, y, h int, stripe bool, thr linAxis, lat logAxis) {
	if stripe {
		c.fill(image.Rect(margin, y, chartW-margin, y+h), colStripe)
	}
	for k := 1; k <= thr.n; k++ {
		x := thrX + thr.px(float64(k)*thr.step, thrW)
		c.fill(image.Rect(x, y, x+1, y+h), colGrid)
	}
	for k := lat.lo; k <= lat.hi; k++ {
		if lat.hi-lat.lo <= 5 && k < lat.hi {
			for _, m := range []float64{2, 5} {
				x := latX + lat.px(m*math.Pow(10, float64(k)), latW)
				c.fill(image.Rect(x, y, x+1, y+h), colGridMinor)
			}
		}
		x := latX + lat.px(math.Pow(10, float64(k)), latW)
		c.fill(image.Rect(x, y, x+1, y+h), colGrid)
	}
	c.fill(image.Rect(thrX-1, y, thrX, y+h), colAxis)
	c.fill(image.Rect(latX-1, y, latX, y+h), colAxis)

	pad := h / 8
	top := y + pad
	c.text(margin, top+12, fit(r.Op, labelW, 1), faceBold, colText, 1)
	second := "c=" + strconv.Itoa(r.Conc)
	if r.Target != "" {
		second += " " + r.Target
	}
	c.text(margin, top+30, fit(second, labelW, 1), faceText, colMuted, 1)
	if r.Errors > 0 {
		c.text(margin, top+48, fit(fmt.Sprintf("%d requests failed", r.Errors), labelW, 1), faceText, colErr, 1)
	}

	inner := h - 2*pad
	bh := (inner - 4) / 2
	if r.Base != nil {
		c.bar(thrX, top, thr.px(r.Base.OpsPerSec, thrW), bh, colBase, r.Base.OpsPerSec > 0, fmtOps(r.Base.OpsPerSec))
	} else {
		c.text(thrX+6, top+(bh+10)/2, "no baseline", faceText, colMuted, 1)
	}
	c.bar(thrX, top+bh+4, thr.px(r.Node.OpsPerSec, thrW), bh, colNode, r.Node.OpsPerSec > 0, fmtOps(r.Node.OpsPerSec))
	c.centred(ratioX, y+(h+20)/2, ratioText(r.Ratio), faceBold, colText, 2)

	lats := []struct {
		v   float64
		col color.RGBA
	}{{r.Node.P50Ms, colP50}, {r.Node.P99Ms, colP99}, {r.Node.P999Ms, colP999}}
	if r.Base != nil {
		lats = append(lats, struct {
			v   float64
			col color.RGBA
		}{r.Base.P99Ms, colBase})
	}
	lh := (inner - 6) / 4
	for k, e := range lats {
		yy := top + k*(lh+2)
		if e.v > 0 {
			c.bar(latX, yy, lat.px(e.v, latW), lh, e.col, true, fmtMs(e.v))
		} else {
			c.text(latX+6, yy+(lh+10)/2, "-", faceText, colMuted, 1)
		}
	}
	c.centred(p99X, y+(h+20)/2, ratioText(r.P99), faceBold, colText, 2)
}

// bar paints a horizontal bar from x, w long (at least 1 px when the value
// is positive, so a tiny figure is still seen), and writes label after it.
func (c *canvas) bar(x, y, w, h int, col color.RGBA, positive bool, label string) {
	if positive && w < 1 {
		w = 1
	}
	c.fill(image.Rect(x, y, x+w, y+h), col)
	c.text(x+w+4, y+(h+10)/2, label, faceText, colText, 1)
}

// ratioText gives two decimals, or three for ratios under 0.1 (a forwarded
// CreateKey is 0.002 of the baseline), and fewer digits for large ones.
func ratioText(v *float64) string {
	switch {
	case v == nil || math.IsNaN(*v):
		return "-"
	case *v >= 100:
		return strconv.FormatFloat(*v, 'f', 0, 64)
	case *v >= 10:
		return strconv.FormatFloat(*v, 'f', 1, 64)
	case *v >= 0.1:
		return strconv.FormatFloat(*v, 'f', 2, 64)
	}
	return strconv.FormatFloat(*v, 'f', 3, 64)
}

// linAxis is a linear scale from 0 to n·step.
type linAxis struct {
	step float64
	n    int
}

func (a linAxis) px(v float64, w int) int {
	return int(math.Round(clamp01(v/(float64(a.n)*a.step)) * float64(w)))
}

// niceAxis covers 0..top in 1, 2 or 5 × 10^k steps, about four of them.
func niceAxis(top float64) linAxis {
	if !(top > 0) || math.IsInf(top, 0) {
		top = 1
	}
	raw := top / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	n := min(max(int(math.Ceil(top/step)), 1), 10)
	return linAxis{step: step, n: n}
}

func opsTick(v, step float64) string {
	if v == 0 {
		return "0"
	}
	if step >= 1000 && v < 1e15 {
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// logAxis is a log10 scale from 10^lo to 10^hi ms.
type logAxis struct{ lo, hi int }

func (a logAxis) px(v float64, w int) int {
	if !(v > 0) {
		return 0
	}
	f := (math.Log10(v) - float64(a.lo)) / float64(a.hi-a.lo)
	return int(math.Round(clamp01(f) * float64(w)))
}

// axesOf fits the throughput scale to the largest ops/s and the latency
// scale to whole decades around every latency drawn, at most eight of them
// (smaller values are drawn at the left edge).
func axesOf(cd *chartData) (linAxis, logAxis) {
	top := 0.0
	lo, hi := math.Inf(1), math.Inf(-1)
	add := func(v float64) {
		if v > 0 {
			l := math.Log10(v)
			lo, hi = min(lo, l), max(hi, l)
		}
	}
	for _, s := range cd.Sections {
		for _, r := range s.Rows {
			top = max(top, r.Node.OpsPerSec)
			add(r.Node.P50Ms)
			add(r.Node.P99Ms)
			add(r.Node.P999Ms)
			if r.Base != nil {
				top = max(top, r.Base.OpsPerSec)
				add(r.Base.P99Ms)
			}
		}
	}
	lat := logAxis{lo: -1, hi: 2}
	if lo <= hi {
		lat = logAxis{lo: int(math.Floor(lo)), hi: int(math.Ceil(hi))}
		if lat.hi <= lat.lo {
			lat.hi = lat.lo + 1
		}
		lat.lo = max(lat.lo, lat.hi-8)
	}
	return niceAxis(top), lat
}

func decadeLabel(k int) string {
	switch {
	case k >= 0 && k <= 6:
		return strconv.FormatFloat(math.Pow(10, float64(k)), 'f', 0, 64)
	case k < 0 && k >= -4:
		return strconv.FormatFloat(math.Pow(10, float64(k)), 'f', -k, 64)
	}
	return "1e" + strconv.Itoa(k)
}

// clamp01 also maps NaN to 0, so no pixel position is ever computed from it.
func clamp01(f float64) float64 {
	if !(f > 0) {
		return 0
	}
	return min(f, 1)
}

// printable replaces what the font cannot draw (control characters,
// anything beyond Latin-1) with '?': text from a report is outside input.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if (r >= 0x20 && r < 0x7f) || (r >= 0xa0 && r <= 0xff) {
			return r
		}
		return '?'
	}, s)
}

func textW(s string, scale int) int { return utf8.RuneCountInString(s) * glyphW * scale }

// fit cuts s to maxW pixels, ending it with "..." when it was cut.
func fit(s string, maxW, scale int) string {
	n := maxW / (glyphW * scale)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	keep := max(n-3, 0)
	for i := range s {
		if keep == 0 {
			return s[:i] + "..."[:min(n, 3)]
		}
		keep--
	}
	return s
}

type canvas struct{ img *image.RGBA }

func (c *canvas) fill(r image.Rectangle, col color.RGBA) {
	draw.Draw(c.img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

// text draws s with its baseline at y, scaled up by an integer factor
// (a pixel-doubled bitmap font stays crisp), and returns its width.
func (c *canvas) text(x, y int, s string, face *basicfont.Face, col color.RGBA, scale int) int {
	s = printable(s)
	if scale <= 1 {
		d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: face, Dot: fixed.P(x, y)}
		d.DrawString(s)
		return textW(s, 1)
	}
	w, h := textW(s, 1)+2, face.Ascent+face.Descent
	small := image.NewAlpha(image.Rect(0, 0, w, h))
	d := font.Drawer{Dst: small, Src: image.Opaque, Face: face, Dot: fixed.P(1, face.Ascent)}
	d.DrawString(s)
	big := image.NewAlpha(image.Rect(0, 0, w*scale, h*scale))
	for py := range h * scale {
		for px := range w * scale {
			big.SetAlpha(px, py, small.AlphaAt(px/scale, py/scale))
		}
	}
	r := image.Rect(x-scale, y-face.Ascent*scale, x-scale+w*scale, y+face.Descent*scale)
	draw.DrawMask(c.img, r, image.NewUniform(col), image.Point{}, big, image.Point{}, draw.Over)
	return textW(s, scale)
}

func (c *canvas) centred(x, y int, s string, face *basicfont.Face, col color.RGBA, scale int) {
	c.text(x-textW(s, scale)/2, y, s, face, col, scale)
}

// legend draws a colour swatch and its label; it returns where it ends.
func (c *canvas) legend(x, y int, col color.RGBA, s string) int {
	c.fill(image.Rect(x, y-12, x+14, y+2), col)
	return x + 20 + c.text(x+20, y, s, faceText, colText, 1)
}
