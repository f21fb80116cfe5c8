// svg.h — self-contained SVG charts written by lorac itself (no plotting library,
// no scripts, no fonts or files fetched): a line chart of several series with
// axes, ticks, grid and a legend (loss curves), and a grouped bar chart (eval
// metrics per run). All text is XML-escaped. Output opens as a .svg file or
// inline in HTML.
//
// Ownership: the caller owns every input and the strbuf the chart is appended to.
#ifndef LORAC_SVG_H
#define LORAC_SVG_H

#include "../core/core.h"

typedef struct {
    const char *name;      // legend text
    const double *x, *y;   // (n); a non-finite y breaks the line there
    int64_t n;
    int color;             // palette index: series of one run share it
    int dashed;            // e.g. validation loss next to the solid training loss
} svg_series;

typedef struct {
    const char *title, *x_label, *y_label;
    int width, height;     // pixels of the plot area and axes; the legend adds rows below
} svg_chart;

// One <path class="series"> per series with at least one finite point (circles
// mark the points of short series); a series without any finite point appears in
// the legend as "(no data)". With nothing to draw, a frame that says "no data".
void svg_line_chart(strbuf *out, const svg_chart *c, const svg_series *s, int n_series);

// Groups along x (metrics), one <rect class="bar"> per finite value, series side
// by side in palette colours (colors[k], or k when colors is NULL), the value
// written above each bar. values: (n_groups, n_series) row-major; y from y_min to
// y_max (NAN: from the data).
void svg_bar_chart(strbuf *out, const svg_chart *c, const char *const *groups, int n_groups,
                   const char *const *series, const int *colors, int n_series, const double *values, double y_min,
                   double y_max);

// The palette colour for index i ("#0072b2", ...), cycling.
const char *svg_color(int i);
// XML-escape s (& < > " ') into out.
void svg_escape(strbuf *out, const char *s);

#endif
