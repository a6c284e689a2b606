//! `deeplesion view DIR --image FILE_NAME --out x.png`: the windowed key slice with RECIST axes and boxes drawn.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use deeplesion::data::{view, Dataset, LoadOptions, Window};

#[derive(Args)]
pub struct ViewArgs {
    /// Dataset folder holding DL_info.csv and Images_png/.
    pub dir: PathBuf,
    /// Key slice File_name as in DL_info.csv, e.g. 000089_01_01_037.png.
    #[arg(long)]
    pub image: String,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// Window: paper (-1024..3071), soft-tissue, lung, bone, dicom (the row's), or LO,HI.
    #[arg(long, default_value = "dicom")]
    pub window: Window,
    /// Integer zoom of the picture.
    #[arg(long, default_value_t = 1)]
    pub zoom: u32,
}

pub fn run(a: ViewArgs) -> anyhow::Result<()> {
    let opts = LoadOptions { strict: false, check_images: false };
    let (ds, _) = Dataset::open(&a.dir, &opts)?;
    let Some(im) = ds.image(&a.image) else {
        bail!("{} is not a key slice of {} (or its rows were skipped)", a.image, a.dir.display());
    };
    let pic = view::render(&ds, im, a.window, a.zoom)?;
    pic.save(&a.out).with_context(|| format!("cannot write {}", a.out.display()))?;
    println!(
        "wrote {} ({}x{}): {} lesion(s); green = Bounding_boxes, red = long axis, blue = short axis, \
         yellow = mined box where it differs by > 1 px",
        a.out.display(),
        pic.width(),
        pic.height(),
        im.lesions.len()
    );
    for l in &im.lesions {
        println!(
            "  line {}: type {} ({}), long {:.1} mm, short {:.1} mm{}",
            l.line,
            l.coarse_type,
            deeplesion::data::type_name(l.coarse_type),
            l.diameters_px[0] * l.spacing_mm[0],
            l.diameters_px[1] * l.spacing_mm[0],
            if l.noisy { ", flagged noisy" } else { "" }
        );
    }
    Ok(())
}
