package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// SVG layout, in pixels.
const (
	svgWidth   = 900
	svgPanelH  = 220
	svgMarginL = 70
	svgMarginR = 20
	svgMarginT = 30
	svgMarginB = 35
)

// series is one line of a panel.
type series struct {
	name  string
	color string
	ys    []float64
}

// WriteSVG draws, for each result with a timeline, two panels: latency
// quantiles per second (log scale, ms) and throughput per second (MB/s).
func WriteSVG(w io.Writer, rs []*Result) error {
	var panels []string
	for _, r := range rs {
		if len(r.Timeline) == 0 {
			continue
		}
		var ts, p50, p99, mx, mbs []float64
		for _, p := range r.Timeline {
			ts = append(ts, p.T)
			p50 = append(p50, p.P50)
			p99 = append(p99, p.P99)
			mx = append(mx, p.Max)
			mbs = append(mbs, p.MBPerSec)
		}
		title := fmt.Sprintf("%s (%s): %.0f records/s, %.1f MB/s", r.Config.Name, r.Config.Mode, r.RecordsPerSec, r.MBPerSec)
		if r.Latency != nil {
			title += fmt.Sprintf(", %s latency p99 %.2f ms", r.LatencyKind, r.Latency.P99)
			panels = append(panels, panel(title+" — latency per second (ms, log)", ts, true, []series{
				{"p50", "#1f77b4", p50}, {"p99", "#ff7f0e", p99}, {"max", "#d62728", mx},
			}))
			title = ""
		}
		panels = append(panels, panel(title+" throughput (MB/s)", ts, false, []series{{"MB/s", "#2ca02c", mbs}}))
	}
	h := len(panels) * svgPanelH
	if h == 0 {
		h = svgPanelH
		panels = append(panels, `<text x="20" y="40">no timeline: the run was shorter than a second</text>`)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", svgWidth, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, p := range panels {
		fmt.Fprintf(&b, `<g transform="translate(0,%d)">%s</g>`+"\n", i*svgPanelH, p)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// panel renders one chart with a shared x axis (seconds).
func panel(title string, xs []float64, logY bool, ss []series) string {
	pw := float64(svgWidth - svgMarginL - svgMarginR)
	ph := float64(svgPanelH - svgMarginT - svgMarginB)
	xmax := xs[len(xs)-1]
	if xmax <= 0 {
		xmax = 1
	}
	ymin, ymax := math.Inf(1), 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			if y > 0 {
				ymin = min(ymin, y)
			}
			ymax = max(ymax, y)
		}
	}
	if ymax == 0 {
		ymax, ymin = 1, 0.001
	}
	fy := func(y float64) float64 { // data → pixel
		if logY {
			lo, hi := math.Log10(ymin/1.5), math.Log10(ymax*1.5)
			y = max(y, ymin/1.5)
			return float64(svgMarginT) + ph*(1-(math.Log10(y)-lo)/(hi-lo))
		}
		return float64(svgMarginT) + ph*(1-y/(ymax*1.1))
	}
	fx := func(x float64) float64 { return float64(svgMarginL) + pw*x/xmax }
	var b strings.Builder
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="13">%s</text>`, svgMarginL, html.EscapeString(title))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`, svgMarginL, svgMarginT, pw, ph)
	// y ticks: decades for log, 5 steps for linear.
	var ticks []float64
	if logY {
		for e := math.Floor(math.Log10(ymin / 1.5)); e <= math.Ceil(math.Log10(ymax*1.5)); e++ {
			ticks = append(ticks, math.Pow(10, e))
		}
	} else {
		for i := range 6 {
			ticks = append(ticks, ymax*1.1*float64(i)/5)
		}
	}
	for _, t := range ticks {
		y := fy(t)
		if y < float64(svgMarginT)-0.5 || y > float64(svgMarginT)+ph+0.5 {
			continue
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, svgMarginL, float64(svgMarginL)+pw, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, svgMarginL-4, y+4, tick(t))
	}
	for i := range 6 {
		x := xmax * float64(i) / 5
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.0fs</text>`, fx(x), svgPanelH-svgMarginB+14, x)
	}
	for i, s := range ss {
		var pts []string
		for j, y := range s.ys {
			if logY && y <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", fx(xs[j]), fy(y)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, s.color, strings.Join(pts, " "))
		lx := svgWidth - svgMarginR - 60*(len(ss)-i)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/><text x="%d" y="%d">%s</text>`,
			lx, svgPanelH-12, s.color, lx+14, svgPanelH-8, s.name)
	}
	return b.String()
}

// tick formats an axis value compactly.
func tick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.3g", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}
