//! Per-tile RoI lists (used by the RoI pooling / RoIAlign backward gathers) against the CPU reference.

use deeplesion::detection::roi_tiles::{build, cpu_lists, parse, tile_size, TileGeometry, TILE};
use deeplesion::testing::{gpu, rng};
use rand::Rng;

fn random_rois(r: &mut impl Rng, n: usize, count: usize, img: f32) -> Vec<f32> {
    let mut out = Vec::new();
    for _ in 0..count {
        let x = r.gen_range(-0.3 * img..1.1 * img);
        let y = r.gen_range(-0.3 * img..1.1 * img);
        // Some boxes inverted (x2 < x1), some tiny.
        out.extend([
            r.gen_range(0..n) as f32,
            x,
            y,
            x + r.gen_range(-4.0..img / 2.0),
            y + r.gen_range(-4.0..img / 2.0),
        ]);
    }
    out
}

#[test]
fn gpu_lists_match_cpu_for_awkward_maps_and_rois() {
    let g = gpu();
    let mut r = rng(60);
    let mut rois = random_rois(&mut r, 3, 90, 300.0);
    // Invalid batch indices, NaN and infinite coordinates, a RoI far outside.
    rois.extend([3.0, 1.0, 1.0, 9.0, 9.0, -1.0, 1.0, 1.0, 9.0, 9.0, 0.0, f32::NAN, 5.0, 20.0, 20.0]);
    rois.extend([2.0, 1.0, 1.0, 9.0, f32::INFINITY, 1.0, 5000.0, 5000.0, 5100.0, 5100.0]);
    let nr = rois.len() / 5;
    let tr = g.upload(&[nr, 5], &rois).unwrap();
    for (h, w) in [(37, 45), (1, 1), (8, 8), (9, 70)] {
        for geo in [
            TileGeometry { scale: 0.125, offset: 0.0, min1: false },
            TileGeometry { scale: 0.125, offset: 0.5, min1: false },
            TileGeometry { scale: 0.125, offset: 0.0, min1: true },
        ] {
            let tl = build(&g, &tr, 3, h, w, geo).unwrap();
            assert_eq!(tl.tile, TILE);
            assert_eq!((tl.tiles_x, tl.tiles_y), (w.div_ceil(TILE), h.div_ceil(TILE)));
            let words = tl.lists.to_vec_u32(&g).unwrap();
            for c in words.chunks_exact(nr + 1) {
                assert!(c[0] as usize <= nr, "count {} of {nr} RoIs", c[0]);
            }
            let want = cpu_lists(&rois, 3, h, w, TILE, geo);
            assert_eq!(parse(&words, nr), want, "{h}x{w} {geo:?}");
        }
    }
}

#[test]
fn zero_rois_give_empty_lists() {
    let g = gpu();
    let tr = g.upload(&[0, 5], &[]).unwrap();
    let tl = build(&g, &tr, 2, 20, 20, TileGeometry { scale: 1.0, offset: 0.0, min1: false }).unwrap();
    assert_eq!(tl.lists.to_vec_u32(&g).unwrap(), vec![0; 2 * 9]);
}

#[test]
fn tile_grows_when_the_lists_would_be_too_large() {
    assert_eq!(tile_size(1, 64, 64, 256), TILE);
    assert_eq!(tile_size(1, 1024, 1024, 5000), 32);
}
