package main

import (
	"bytes"
	"fmt"
	"math"
	"text/template"
)

// The chart: one panel per scenario, one horizontal bar per server (the median),
// a thin line for the min–max range. Plain SVG from text/template.
var chartTmpl = template.Must(template.New("chart").Parse(`<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="15" font-weight="bold">weft benchmarks: median by scenario and server (server on 1 CPU, generator on the other)</text>
{{range .Panels}}<g transform="translate(0,{{.Y}})">
<text x="10" y="14" font-weight="bold">{{.Title}}</text>
{{range .Bars}}<text x="95" y="{{.TextY}}" text-anchor="end">{{.Name}}</text>
<rect x="100" y="{{.Y}}" width="{{.Len}}" height="16" fill="{{.Color}}"/>
{{if .Range}}<line x1="{{.MinX}}" x2="{{.MaxX}}" y1="{{.MidY}}" y2="{{.MidY}}" stroke="black" stroke-width="1.5"/>{{end}}
<text x="{{.LabelX}}" y="{{.TextY}}">{{.Label}}</text>
{{end}}</g>
{{end}}</svg>
`))

type chartBar struct {
	Name, Color, Label      string
	Y, TextY, MidY          int
	Len, MinX, MaxX, LabelX float64
	Range                   bool
}

type chartPanel struct {
	Title string
	Y     int
	Bars  []chartBar
}

var serverColors = map[string]string{
	"weft": "#2b6cb0", "weftepoll": "#63b3ed", "gnet": "#dd6b20", "plain": "#38a169", "naive": "#a0aec0", "twisted": "#805ad5",
}

func chart(rows []row, servers []string) ([]byte, error) {
	const barArea = 620.0
	var panels []chartPanel
	y := 36
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].Scenario == rows[i].Scenario {
			j++
		}
		group := rows[i:j]
		i = j
		peak := 0.0
		for _, r := range group {
			if !math.IsNaN(r.Value.Max) {
				peak = max(peak, r.Value.Max)
			}
		}
		if peak == 0 {
			continue
		}
		title := fmt.Sprintf("%s %s — %s", group[0].Scenario, group[0].Title, group[0].Unit)
		if group[0].Unit == "B/conn" {
			title += " (RSS growth, lower is better)"
		}
		p := chartPanel{Title: title, Y: y}
		by := 22
		for _, r := range group {
			if math.IsNaN(r.Value.Median) {
				continue
			}
			scale := barArea / peak
			b := chartBar{Name: r.Server, Color: serverColors[r.Server], Y: by, TextY: by + 13, MidY: by + 8,
				Len: r.Value.Median * scale, MinX: 100 + r.Value.Min*scale, MaxX: 100 + r.Value.Max*scale,
				Range: r.Value.N > 1}
			if b.Color == "" {
				b.Color = "#718096"
			}
			b.LabelX = 100 + max(b.Len, b.MaxX-100) + 6
			b.Label = num(r.Value.Median)
			if rt := r.Ratios["weft"]; rt != nil {
				b.Label += fmt.Sprintf("  (weft ÷ %s = %.2f×)", r.Server, rt.Median)
			}
			p.Bars = append(p.Bars, b)
			by += 20
		}
		panels = append(panels, p)
		y += by + 14
	}
	var buf bytes.Buffer
	err := chartTmpl.Execute(&buf, struct {
		W, H   int
		Panels []chartPanel
	}{980, y + 10, panels})
	return buf.Bytes(), err
}
