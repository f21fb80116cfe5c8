// svg.c — line and bar charts as standalone SVG (see svg.h). Layout: title on
// top, y axis with 1-2-5 ticks on the left, x axis below, legend rows under the
// plot. Coordinates are written with one decimal, so the output is deterministic.
#include "svg.h"

#include <math.h>
#include <string.h>

// Okabe-Ito (colour-blind safe), yellow left out for contrast on white
static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"};

const char *svg_color(int i) {
    int n = (int)(sizeof palette / sizeof palette[0]);
    return palette[((i % n) + n) % n];
}

void svg_escape(strbuf *out, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sb_puts(out, "&amp;"); break;
        case '<': sb_puts(out, "&lt;"); break;
        case '>': sb_puts(out, "&gt;"); break;
        case '"': sb_puts(out, "&quot;"); break;
        case '\'': sb_puts(out, "&#39;"); break;
        default: sb_putc(out, *s);
        }
    }
}

// ---- layout ----
enum { M_LEFT = 64, M_RIGHT = 20, M_TOP = 36, M_BOTTOM = 44, LEGEND_ROW = 18 };

typedef struct {
    double x0, x1, y0, y1; // data range
    double px0, px1, py0, py1; // pixel box of the plot area (py0 top)
} frame;

static double fx(const frame *f, double x) { return f->px0 + (x - f->x0) / (f->x1 - f->x0) * (f->px1 - f->px0); }
static double fy(const frame *f, double y) { return f->py1 - (y - f->y0) / (f->y1 - f->y0) * (f->py1 - f->py0); }

// A 1-2-5 step giving about `want` intervals over [lo, hi].
static double nice_step(double lo, double hi, int want) {
    double raw = (hi - lo) / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

// Widen [lo, hi] to whole steps (and to a real interval when lo == hi).
static void nice_range(double *lo, double *hi, int want) {
    if (!(*hi > *lo)) {
        double pad = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 0.5;
        *lo -= pad, *hi += pad;
    }
    double st = nice_step(*lo, *hi, want);
    *lo = floor(*lo / st + 1e-9) * st;
    *hi = ceil(*hi / st - 1e-9) * st;
}

static void num(strbuf *out, double v) {
    char b[32];
    snprintf(b, sizeof b, "%.4g", fabs(v) < 1e-12 ? 0.0 : v);
    sb_puts(out, b);
}

static void open_svg(strbuf *out, const svg_chart *c, int height) {
    sb_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                   "font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n",
              c->width, height, c->width, height);
    sb_printf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", c->width, height);
    if (c->title) {
        sb_printf(out, "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">", c->width / 2);
        svg_escape(out, c->title);
        sb_puts(out, "</text>\n");
    }
}

static void axes(strbuf *out, const svg_chart *c, const frame *f, int x_ticks) {
    // y grid and ticks
    double st = nice_step(f->y0, f->y1, 5);
    for (double v = f->y0; v <= f->y1 + st * 1e-6; v += st) {
        double y = fy(f, v);
        sb_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", f->px0, y, f->px1, y);
        sb_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#444\">", f->px0 - 6, y + 4);
        num(out, v);
        sb_puts(out, "</text>\n");
    }
    if (x_ticks) {
        double xs = nice_step(f->x0, f->x1, 6);
        for (double v = ceil(f->x0 / xs - 1e-9) * xs; v <= f->x1 + xs * 1e-6; v += xs) {
            double x = fx(f, v);
            sb_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", x, f->py1, x, f->py1 + 4);
            sb_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#444\">", x, f->py1 + 17);
            num(out, v);
            sb_puts(out, "</text>\n");
        }
    }
    sb_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", f->px0, f->py1, f->px1, f->py1);
    sb_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", f->px0, f->py0, f->px0, f->py1);
    if (c->x_label) {
        sb_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (f->px0 + f->px1) / 2, f->py1 + 36);
        svg_escape(out, c->x_label);
        sb_puts(out, "</text>\n");
    }
    if (c->y_label) {
        sb_printf(out, "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">", (f->py0 + f->py1) / 2);
        svg_escape(out, c->y_label);
        sb_puts(out, "</text>\n");
    }
}

static void legend_entry(strbuf *out, double x, double y, const char *color, int dashed, int bar, const char *name,
                         const char *suffix) {
    if (bar) sb_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/>\n", x, y - 9, color);
    else sb_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", x,
                   y - 4, x + 22, y - 4, color, dashed ? " stroke-dasharray=\"6 4\"" : "");
    sb_printf(out, "<text x=\"%.1f\" y=\"%.1f\">", x + (bar ? 20 : 28), y);
    svg_escape(out, name);
    if (suffix) sb_puts(out, suffix);
    sb_puts(out, "</text>\n");
}

static void no_data(strbuf *out, const svg_chart *c) {
    open_svg(out, c, c->height);
    sb_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", M_LEFT, M_TOP,
              c->width - M_LEFT - M_RIGHT, c->height - M_TOP - M_BOTTOM);
    sb_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#666\">no data</text>\n</svg>\n", c->width / 2,
              c->height / 2);
}

// ---- line chart ----
void svg_line_chart(strbuf *out, const svg_chart *c, const svg_series *s, int n_series) {
    frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY, 0, 0, 0, 0};
    for (int k = 0; k < n_series; k++)
        for (int64_t i = 0; i < s[k].n; i++)
            if (isfinite(s[k].x[i]) && isfinite(s[k].y[i])) {
                f.x0 = fmin(f.x0, s[k].x[i]), f.x1 = fmax(f.x1, s[k].x[i]);
                f.y0 = fmin(f.y0, s[k].y[i]), f.y1 = fmax(f.y1, s[k].y[i]);
            }
    if (!isfinite(f.x0)) {
        no_data(out, c);
        return;
    }
    if (!(f.x1 > f.x0)) f.x0 -= 1, f.x1 += 1;
    nice_range(&f.y0, &f.y1, 5);
    int height = c->height + n_series * LEGEND_ROW;
    f.px0 = M_LEFT, f.px1 = c->width - M_RIGHT, f.py0 = M_TOP, f.py1 = c->height - M_BOTTOM;
    open_svg(out, c, height);
    axes(out, c, &f, 1);
    for (int k = 0; k < n_series; k++) {
        const char *col = svg_color(s[k].color);
        strbuf d;
        sb_init(&d);
        int64_t pts = 0, prev_ok = 0;
        for (int64_t i = 0; i < s[k].n; i++) {
            int ok = isfinite(s[k].x[i]) && isfinite(s[k].y[i]);
            if (ok) sb_printf(&d, "%s%.1f %.1f", prev_ok ? " L" : (pts ? " M" : "M"), fx(&f, s[k].x[i]), fy(&f, s[k].y[i])), pts++;
            prev_ok = ok;
        }
        if (pts) {
            sb_printf(out, "<path class=\"series\" d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s>", d.buf, col,
                      s[k].dashed ? " stroke-dasharray=\"6 4\"" : "");
            sb_puts(out, "<title>");
            svg_escape(out, s[k].name);
            sb_puts(out, "</title></path>\n");
            for (int64_t i = 0; i < s[k].n && s[k].n <= 40; i++)
                if (isfinite(s[k].x[i]) && isfinite(s[k].y[i]))
                    sb_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", fx(&f, s[k].x[i]),
                              fy(&f, s[k].y[i]), col);
        }
        sb_release(&d);
        legend_entry(out, M_LEFT, c->height + k * LEGEND_ROW + 6, col, s[k].dashed, 0, s[k].name, pts ? NULL : " (no data)");
    }
    sb_puts(out, "</svg>\n");
}

// ---- bar chart ----
void svg_bar_chart(strbuf *out, const svg_chart *c, const char *const *groups, int n_groups,
                   const char *const *series, const int *colors, int n_series, const double *values, double y_min,
                   double y_max) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n_groups * n_series; i++)
        if (isfinite(values[i])) lo = fmin(lo, values[i]), hi = fmax(hi, values[i]);
    if (!isfinite(lo) || n_groups == 0 || n_series == 0) {
        no_data(out, c);
        return;
    }
    frame f = {0, 1, isnan(y_min) ? fmin(0, lo) : y_min, isnan(y_max) ? hi : y_max, 0, 0, 0, 0};
    if (isnan(y_min) || isnan(y_max)) nice_range(&f.y0, &f.y1, 5);
    int height = c->height + n_series * LEGEND_ROW;
    f.px0 = M_LEFT, f.px1 = c->width - M_RIGHT, f.py0 = M_TOP, f.py1 = c->height - M_BOTTOM;
    open_svg(out, c, height);
    axes(out, c, &f, 0);
    double gw = (f.px1 - f.px0) / n_groups, bw = gw * 0.8 / n_series;
    for (int g = 0; g < n_groups; g++) {
        double gx = f.px0 + g * gw + gw * 0.1;
        for (int k = 0; k < n_series; k++) {
            double v = values[g * n_series + k];
            if (!isfinite(v)) continue;
            double vc = fmin(fmax(v, f.y0), f.y1), y = fy(&f, vc), base = fy(&f, fmax(f.y0, fmin(0, f.y1)));
            double top = fmin(y, base), h = fabs(base - y);
            sb_printf(out, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                      gx + k * bw, top, bw * 0.92, h, svg_color(colors ? colors[k] : k));
            svg_escape(out, series[k]);
            sb_puts(out, ": ");
            num(out, v);
            sb_puts(out, "</title></rect>\n");
            sb_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" fill=\"#333\">",
                      gx + k * bw + bw * 0.46, top - 3);
            num(out, v);
            sb_puts(out, "</text>\n");
        }
        sb_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", f.px0 + g * gw + gw / 2, f.py1 + 17);
        svg_escape(out, groups[g]);
        sb_puts(out, "</text>\n");
    }
    for (int k = 0; k < n_series; k++) legend_entry(out, M_LEFT, c->height + k * LEGEND_ROW + 6, svg_color(colors ? colors[k] : k), 0, 1, series[k], NULL);
    sb_puts(out, "</svg>\n");
}
