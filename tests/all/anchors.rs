//! Anchor generation against hand-written answers.

use deeplesion::detection::AnchorConfig;
use deeplesion::testing::gpu;

#[test]
fn paper_anchors_are_fifteen_per_cell_with_area_scale_squared() {
    let cfg = AnchorConfig::default();
    assert_eq!(cfg.per_cell(), 15);
    for (i, a) in cfg.cell_anchors().iter().enumerate() {
        let s = cfg.scales[i % 5];
        let area = (a[2] - a[0]) * (a[3] - a[1]);
        assert!((area - s * s).abs() < 1e-2 * s * s, "anchor {i}: {a:?}");
        let ratio = (a[3] - a[1]) / (a[2] - a[0]);
        assert!((ratio - cfg.ratios[i / 5]).abs() < 1e-5);
    }
}

#[test]
fn first_cells_hand_written() {
    let cfg = AnchorConfig { scales: vec![16.0], ratios: vec![1.0, 4.0], stride: 8.0 };
    let g = cfg.grid(2, 3);
    assert_eq!(g.len(), 2 * 3 * 2);
    // Cell (y=0, x=0): centre (4, 4); 16x16 square, then ratio 4 (w 8, h 32).
    assert_eq!(g[0], [-4.0, -4.0, 12.0, 12.0]);
    assert_eq!(g[1], [0.0, -12.0, 8.0, 20.0]);
    // Cell (y=0, x=1): centre (12, 4).
    assert_eq!(g[2], [4.0, -4.0, 20.0, 12.0]);
    // Cell (y=1, x=2): index (1 * 3 + 2) * 2 = 10, centre (20, 12).
    assert_eq!(g[10], [12.0, 4.0, 28.0, 20.0]);
}

#[test]
fn upload_shape_is_hwa_by_4() {
    let g = gpu();
    let t = AnchorConfig::default().upload(&g, 4, 5).unwrap();
    assert_eq!(t.shape(), &[4 * 5 * 15, 4]);
}
