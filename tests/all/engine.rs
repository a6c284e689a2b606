//! Engine plumbing: poisoning, dispatch splitting past 65,535 workgroups, the buffer pool, size limits.

use deeplesion::gpu::grid_1d;
use deeplesion::ops::elementwise as ew;
use deeplesion::testing::gpu;
use deeplesion::DType;

#[test]
fn fresh_outputs_are_poisoned_with_nan() {
    let g = gpu();
    assert!(g.poisoning());
    let t = g.empty("test", &[17], DType::F32).unwrap();
    assert!(t.to_vec(&g).unwrap().iter().all(|v| v.is_nan()));
}

#[test]
fn grid_folds_into_y_past_the_workgroup_limit() {
    assert_eq!(grid_1d(256 * 65_535, 256), [65_535, 1, 1]);
    let [x, y, _] = grid_1d(256 * 65_536, 256);
    assert!(x <= 65_535 && y == 2 && (x as u64 * y as u64) >= 65_536);
    assert_eq!(grid_1d(0, 256)[0], 0);
}

#[test]
fn a_dispatch_of_more_than_65535_workgroups_writes_every_element() {
    let g = gpu();
    let n = 256 * 65_536 + 3; // 65,537 workgroups of 256
    let t = ew::full(&g, &[n], 1.5).unwrap();
    let v = t.to_vec(&g).unwrap();
    assert_eq!(v.len(), n);
    assert!(v.iter().all(|&x| x == 1.5));
}

#[test]
fn repeated_steps_allocate_no_new_buffers() {
    let g = gpu();
    let x = g.upload(&[1000], &vec![0.5; 1000]).unwrap();
    let step = || {
        let y = ew::relu(&g, &x).unwrap();
        let z = ew::scale(&g, &y, 2.0).unwrap();
        let w = ew::add(&g, &z, &y).unwrap();
        w.to_vec(&g).unwrap()
    };
    step();
    step();
    let before = g.stats().buffers_created;
    for _ in 0..5 {
        step();
    }
    assert_eq!(g.stats().buffers_created, before, "steps after the first must reuse pooled buffers");
}

#[test]
fn a_tensor_over_the_binding_limit_is_refused_with_the_op_named() {
    let g = gpu();
    let too_big = g.limits.max_storage_buffer_binding_size as usize / 4 + 1;
    let e = g.empty("giant", &[too_big], DType::F32).unwrap_err().to_string();
    assert!(e.contains("giant") && e.contains("exceeds"), "{e}");
}

#[test]
fn one_readback_per_to_vec_and_one_submit() {
    let g = gpu();
    let x = g.upload(&[10], &[1.0; 10]).unwrap();
    let s0 = g.stats();
    let y = ew::scale(&g, &ew::relu(&g, &x).unwrap(), 3.0).unwrap();
    let _ = y.to_vec(&g).unwrap();
    let s1 = g.stats();
    assert_eq!(s1.readbacks - s0.readbacks, 1);
    assert_eq!(s1.submits - s0.submits, 1);
}

#[test]
fn an_empty_tensor_reads_back_as_an_empty_vec() {
    let g = gpu();
    let t = g.upload(&[0, 4], &[]).unwrap();
    assert!(t.to_vec(&g).unwrap().is_empty());
    let u = g.upload_u32(&[0], &[]).unwrap();
    assert!(u.to_vec_u32(&g).unwrap().is_empty());
}
