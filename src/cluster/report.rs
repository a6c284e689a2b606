//! Writes the categorization outputs: pseudo_labels.csv, centroids.csv, confusion.csv, report.json,
//! report.txt, the metrics-per-round chart and the patch mosaic (PNG, plotters).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::ldpo::{fmt_scores, LdpoReport};
use super::patches::Patches;
use crate::error::{Error, Result};

/// Names of the 8 coarse types, in type order (1..=8).
pub const TYPE_NAMES: [&str; 8] =
    ["bone", "abdomen", "mediastinum", "liver", "lung", "kidney", "soft_tissue", "pelvis"];

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn font() {
    // Registering again is harmless; plotters keeps the last one under the name.
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// `File_name,lesion_index,cluster`, one row per lesion in DL_info.csv order: the detector's input.
pub fn pseudo_labels_csv(patches: &Patches, labels: &[u32]) -> String {
    let mut s = String::from("File_name,lesion_index,cluster\n");
    for (l, c) in patches.lesions.iter().zip(labels) {
        let _ = writeln!(s, "{},{},{}", l.file_name, l.lesion_index, c);
    }
    s
}

/// The human summary (also printed by the CLI).
pub fn summary(rep: &LdpoReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "lesions: {} ({} with a coarse type)", rep.lesions, rep.labelled);
    let _ = writeln!(s, "k = {}: {}", rep.k, rep.k_reason);
    let _ = writeln!(s, "round 0 network: {}", if rep.init == "random" { "randomly initialised" } else { &rep.init });
    let _ = writeln!(s, "features: {}", rep.features);
    let _ = writeln!(s, "stopped: {}", rep.stopped);
    let _ = writeln!(
        s,
        "\n{:<22}{:>12}{:>10}{:>9}{:>8}{:>8}{:>10}",
        "clustering", "inertia", "changed", "purity", "NMI", "ARI", "loss"
    );
    let mut row = |name: String, r: &super::ldpo::RoundReport| {
        let (p, n, a) = r.scores.map_or(("-".into(), "-".into(), "-".into()), |s| {
            (format!("{:.3}", s.purity), format!("{:.3}", s.nmi), format!("{:.3}", s.ari))
        });
        let ch = r.change_fraction.map_or("-".to_string(), |c| format!("{:.1}%", 100.0 * c));
        let loss = r.train_loss.map_or("-".to_string(), |l| format!("{l:.3}"));
        let _ = writeln!(s, "{name:<22}{:>12.4}{ch:>10}{p:>9}{n:>8}{a:>8}{loss:>10}", r.inertia);
    };
    row("raw pixels (baseline)".into(), &rep.raw_pixels);
    for r in &rep.rounds {
        row(if r.round == 0 { "round 0 features".into() } else { format!("round {}", r.round) }, r);
    }
    let _ = writeln!(s, "\n{}", verdict(rep));
    if let Some(c) = &rep.confusion {
        let _ = writeln!(s, "\nfinal clusters vs Coarse_lesion_type (labelled lesions):\n{}", c.to_table(&TYPE_NAMES));
    }
    s
}

/// Whether refinement raised purity and NMI over round 0 and over raw pixels, in words.
pub fn verdict(rep: &LdpoReport) -> String {
    let (Some(last), Some(r0), Some(raw)) = (rep.last().scores, rep.round0().scores, rep.raw_pixels.scores) else {
        return "no labelled lesions: cluster quality cannot be judged".into();
    };
    if rep.rounds.len() == 1 {
        return format!(
            "no refinement round ran; round 0 {}; raw pixels {}",
            fmt_scores(&Some(r0)),
            fmt_scores(&Some(raw))
        );
    }
    let cmp = |a: f64, b: f64| {
        if a > b + 1e-9 {
            "raised"
        } else if a + 1e-9 < b {
            "LOWERED"
        } else {
            "kept"
        }
    };
    format!(
        "refinement {} purity over round 0 ({:.3} -> {:.3}) and {} NMI ({:.3} -> {:.3}); \
         versus raw pixels: purity {:.3} vs {:.3}, NMI {:.3} vs {:.3}",
        cmp(last.purity, r0.purity),
        r0.purity,
        last.purity,
        cmp(last.nmi, r0.nmi),
        r0.nmi,
        last.nmi,
        last.purity,
        raw.purity,
        last.nmi,
        raw.nmi
    )
}

/// A named, coloured score picked out of `Scores`.
type Series = (&'static str, RGBColor, fn(&super::metrics::Scores) -> f64);

/// Chart of purity, NMI, ARI and the change fraction per round, baselines as dashed lines.
pub fn chart(rep: &LdpoReport, path: &Path) -> Result<()> {
    font();
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    let rounds = rep.rounds.len().max(2) as f64 - 1.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Lesion clustering per round (k = {})", rep.k), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.1f64..rounds + 0.1, -0.05f64..1.05)
        .map_err(|e| draw_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc("round (0 = initial network)")
        .y_desc("score")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| draw_err(path, e))?;
    let series: [Series; 3] = [("purity", BLUE, |s| s.purity), ("NMI", RED, |s| s.nmi), ("ARI", GREEN, |s| s.ari)];
    for (name, color, f) in series {
        let pts: Vec<(f64, f64)> =
            rep.rounds.iter().filter_map(|r| r.scores.as_ref().map(|s| (r.round as f64, f(s)))).collect();
        if pts.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| draw_err(path, e))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(|e| draw_err(path, e))?;
        if let Some(s) = rep.raw_pixels.scores.as_ref() {
            let y = f(s);
            let dashes: Vec<(f64, f64)> = (0..40).map(|i| (rounds * i as f64 / 40.0, y)).collect();
            chart
                .draw_series(dashes.chunks(2).map(|c| PathElement::new(c.to_vec(), color.mix(0.5).stroke_width(1))))
                .map_err(|e| draw_err(path, e))?
                .label(format!("{name}, raw pixels"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], color.mix(0.5)));
        }
    }
    let change: Vec<(f64, f64)> =
        rep.rounds.iter().filter_map(|r| r.change_fraction.map(|c| (r.round as f64, c))).collect();
    if !change.is_empty() {
        chart
            .draw_series(LineSeries::new(change, BLACK.stroke_width(1)))
            .map_err(|e| draw_err(path, e))?
            .label("changed cluster (fraction)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| draw_err(path, e))?;
    root.present().map_err(|e| draw_err(path, e))
}

/// Up to `per` sample patches of each cluster (key-slice channel, grey), one row per cluster, with the
/// cluster's size and majority coarse type.
pub fn mosaic(patches: &Patches, labels: &[u32], k: usize, per: usize, path: &Path) -> Result<()> {
    font();
    let (s, label_w, gap) = (patches.size, 150usize, 4usize);
    let w = label_w + per * (s + gap);
    let h = k * (s + gap) + gap;
    let root = BitMapBackend::new(path, (w as u32, h as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    let key_channel = patches.channels / 2;
    for c in 0..k {
        let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] as usize == c).collect();
        let mut counts = [0usize; 8];
        for &i in &members {
            let t = patches.lesions[i].coarse_type;
            if (1..=8).contains(&t) {
                counts[(t - 1) as usize] += 1;
            }
        }
        let top = counts.iter().enumerate().max_by_key(|(_, &n)| n).filter(|(_, &n)| n > 0);
        let y0 = gap + c * (s + gap);
        let text = format!("cluster {c}: {}", members.len());
        root.draw(&Text::new(text, (6, y0 as i32 + 8), ("sans-serif", 15))).map_err(|e| draw_err(path, e))?;
        if let Some((t, n)) = top {
            let text = format!("{} {n}", TYPE_NAMES[t]);
            root.draw(&Text::new(text, (6, y0 as i32 + 28), ("sans-serif", 13))).map_err(|e| draw_err(path, e))?;
        }
        // Evenly spaced members, so the row shows the cluster's spread rather than its first files.
        let take = members.len().min(per);
        for j in 0..take {
            let i = members[j * members.len() / take];
            let p = patches.patch(i);
            let plane = &p[key_channel * s * s..(key_channel + 1) * s * s];
            let x0 = label_w + j * (s + gap);
            for y in 0..s {
                for x in 0..s {
                    let v = (plane[y * s + x].clamp(0.0, 1.0) * 255.0) as u8;
                    root.draw_pixel(((x0 + x) as i32, (y0 + y) as i32), &RGBColor(v, v, v))
                        .map_err(|e| draw_err(path, e))?;
                }
            }
        }
    }
    root.present().map_err(|e| draw_err(path, e))
}

/// Writes every output into `out` (created if needed).
pub fn write_all(rep: &LdpoReport, patches: &Patches, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    write(&out.join("pseudo_labels.csv"), &pseudo_labels_csv(patches, &rep.labels))?;
    let mut cen = String::from("cluster");
    for j in 0..rep.feat_dim {
        let _ = write!(cen, ",f{j}");
    }
    cen.push('\n');
    for c in 0..rep.k {
        cen.push_str(&c.to_string());
        for v in &rep.centroids[c * rep.feat_dim..(c + 1) * rep.feat_dim] {
            let _ = write!(cen, ",{v}");
        }
        cen.push('\n');
    }
    write(&out.join("centroids.csv"), &cen)?;
    if let Some(c) = &rep.confusion {
        write(&out.join("confusion.csv"), &c.to_csv(&TYPE_NAMES))?;
    }
    let json = serde_json::to_string_pretty(rep).map_err(|e| Error::io(out, std::io::Error::other(e)))?;
    write(&out.join("report.json"), &json)?;
    write(&out.join("report.txt"), &summary(rep))?;
    chart(rep, &out.join("metrics.png"))?;
    mosaic(patches, &rep.labels, rep.k, 8, &out.join("mosaic.png"))
}
