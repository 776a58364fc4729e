//! The SVG chart of a run: median throughput and median p99 per server, one cluster of
//! bars per cell. Drawn with plotters' SVG backend, no font files needed.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::servers::ServerKind;
use crate::summary::CellSummary;

const SERVERS: [ServerKind; 8] = [
    ServerKind::Ringrpc,
    ServerKind::RingrpcGlommio,
    ServerKind::RingrpcMetrics,
    ServerKind::RpcxGo,
    ServerKind::GrpcGo,
    ServerKind::Tonic,
    ServerKind::Volo,
    ServerKind::Ceiling,
];

fn color(server: ServerKind) -> RGBColor {
    match server {
        ServerKind::Ringrpc => RGBColor(230, 97, 1),
        ServerKind::RingrpcGlommio => RGBColor(253, 174, 97),
        ServerKind::RingrpcMetrics => RGBColor(166, 54, 3),
        ServerKind::RpcxGo => RGBColor(44, 123, 182),
        ServerKind::GrpcGo => RGBColor(26, 150, 65),
        ServerKind::Tonic => RGBColor(117, 112, 179),
        ServerKind::Volo => RGBColor(231, 41, 138),
        ServerKind::Ceiling => RGBColor(150, 150, 150),
    }
}

/// One panel: a value per (cell, server).
struct Panel<'a> {
    title: &'a str,
    log: bool,
    value: fn(&CellSummary, ServerKind) -> Option<f64>,
}

pub fn write_svg(cells: &[CellSummary], path: &Path) -> Result<()> {
    let width = (160 + cells.len() * 90).max(900) as u32;
    let root = SVGBackend::new(path, (width, 820)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(410);
    let panels = [
        Panel {
            title: "throughput, calls/s (median of rounds)",
            log: false,
            value: |c, s| c.server(s).and_then(|x| x.throughput.map(|t| t.median)),
        },
        Panel {
            title: "p99 latency, µs (median of rounds, log scale)",
            log: true,
            value: |c, s| c.server(s).and_then(|x| x.p99_us.map(|t| t.median)),
        },
    ];
    for (area, panel) in [top, bottom].iter().zip(panels) {
        draw_panel(area, cells, &panel).map_err(|e| anyhow!("chart: {e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    cells: &[CellSummary],
    panel: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let values: Vec<f64> = cells
        .iter()
        .flat_map(|c| SERVERS.iter().filter_map(|&s| (panel.value)(c, s)))
        .filter(|v| *v > 0.0)
        .collect();
    // Head room above the tallest bar for the legend.
    let max = values.iter().copied().fold(1.0, f64::max) * if panel.log { 4.0 } else { 1.35 };
    let min = values.iter().copied().fold(max, f64::min);
    let n = cells.len().max(1) as f64;
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(panel.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(80);
    let floor = if panel.log { (min / 2.0).max(1.0) } else { 0.0 };
    let bars = |c: &CellSummary, i: usize| -> Vec<(ServerKind, f64, f64, f64)> {
        let present: Vec<ServerKind> = SERVERS
            .iter()
            .copied()
            .filter(|&s| c.server(s).is_some())
            .collect();
        let w = 0.8 / present.len().max(1) as f64;
        present
            .iter()
            .enumerate()
            .filter_map(|(j, &s)| {
                let v = (panel.value)(c, s)?;
                let x0 = i as f64 + 0.1 + j as f64 * w;
                Some((s, x0, x0 + w * 0.9, v.max(floor)))
            })
            .collect()
    };
    let label = |x: &f64| {
        let i = x.floor() as usize;
        cells
            .get(i)
            .map_or(String::new(), |c| format!("{} {}", c.group, c.cell))
    };
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(TRANSPARENT)
                .y_label_formatter(&|v| format!("{v:.0}"))
                .x_labels(cells.len() * 2 + 1)
                .x_label_formatter(&|x| {
                    if (x.fract() - 0.5).abs() < 0.01 {
                        label(x)
                    } else {
                        String::new()
                    }
                })
                .x_label_style(("sans-serif", 10))
                .draw()?;
            for &server in &SERVERS {
                let rects: Vec<_> = cells
                    .iter()
                    .enumerate()
                    .flat_map(|(i, c)| bars(c, i))
                    .filter(|b| b.0 == server)
                    .map(|(s, x0, x1, v)| Rectangle::new([(x0, floor), (x1, v)], color(s).filled()))
                    .collect();
                if rects.is_empty() {
                    continue;
                }
                chart
                    .draw_series(rects)?
                    .label(server.name())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 10, y + 5)], color(server).filled())
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }};
    }
    if panel.log {
        draw!(builder.build_cartesian_2d(0.0..n, (floor..max).log_scale())?);
    } else {
        draw!(builder.build_cartesian_2d(0.0..n, floor..max)?);
    }
    Ok(())
}
