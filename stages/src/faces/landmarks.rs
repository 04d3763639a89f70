//! What the 468-point face mesh tells: eye aspect ratios (blink), how far
//! the head is turned, and where the eyes are (eye sharpness).

/// Mesh indices of the six eye points (p1…p6 of Soukupová and Čech's eye
/// aspect ratio: corners p1, p4; upper lid p2, p3; lower lid p6, p5), for the
/// eye on the image's left and on its right.
pub const LEFT_EYE: [usize; 6] = [33, 160, 158, 133, 153, 144];
pub const RIGHT_EYE: [usize; 6] = [362, 385, 387, 263, 373, 380];
/// In the eye model's 71 points (MediaPipe iris landmark: eye contour then
/// brows), the same six points: corners 0 and 8, upper lid 11 and 13, lower
/// lid 5 and 3 (mesh points 33, 160, 158, 133, 153, 144).
pub const CONTOUR_EYE: [usize; 6] = [0, 11, 13, 8, 5, 3];
/// Points of the eye model.
pub const CONTOUR_POINTS: usize = 71;
/// Nose tip.
pub const NOSE_TIP: usize = 1;
/// Points in the mesh.
pub const POINTS: usize = 468;

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Eye aspect ratio `(|p2−p6| + |p3−p5|) / (2 |p1−p4|)`: about 0.3 for an
/// open eye, towards 0 as it closes.
pub fn eye_aspect_ratio(mesh: &[[f32; 2]], eye: &[usize; 6]) -> f32 {
    let p = |i: usize| mesh[eye[i]];
    let width = dist(p(0), p(3));
    if width <= f32::EPSILON {
        return 0.0;
    }
    (dist(p(1), p(5)) + dist(p(2), p(4))) / (2.0 * width)
}

/// 0 (frontal) to 1 (profile): how unequal the nose tip's horizontal
/// distances to the two outer eye corners are, in the face's own frame
/// (mesh coordinates of the upright crop).
pub fn head_turn(mesh: &[[f32; 2]]) -> f32 {
    let nose = mesh[NOSE_TIP][0];
    let left = (nose - mesh[LEFT_EYE[0]][0]).abs();
    let right = (mesh[RIGHT_EYE[3]][0] - nose).abs();
    if left + right <= f32::EPSILON {
        return 1.0;
    }
    (left - right).abs() / (left + right)
}

/// Centre and width of an eye (its corners' midpoint and distance).
pub fn eye_box(mesh: &[[f32; 2]], eye: &[usize; 6]) -> ([f32; 2], f32) {
    let (a, b) = (mesh[eye[0]], mesh[eye[3]]);
    ([(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0], dist(a, b))
}

/// 0–10 eye openness from an eye aspect ratio, linear from half the blink
/// threshold (0) to one and a half times it (10): the threshold is 5.
pub fn eyes_open(ear: f32, threshold: f32) -> f32 {
    let t = threshold.max(1e-6);
    (10.0 * (ear - t / 2.0) / t).clamp(0.0, 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mesh with one eye drawn: corners 10 px apart, lids `open` px apart.
    fn mesh(open: f32) -> Vec<[f32; 2]> {
        let mut m = vec![[0.0, 0.0]; POINTS];
        let e = LEFT_EYE;
        m[e[0]] = [0.0, 0.0];
        m[e[3]] = [10.0, 0.0];
        m[e[1]] = [3.0, -open / 2.0];
        m[e[2]] = [7.0, -open / 2.0];
        m[e[5]] = [3.0, open / 2.0];
        m[e[4]] = [7.0, open / 2.0];
        m
    }

    #[test]
    fn ear_falls_as_the_eye_closes() {
        assert!((eye_aspect_ratio(&mesh(3.0), &LEFT_EYE) - 0.3).abs() < 1e-6);
        assert!(eye_aspect_ratio(&mesh(0.5), &LEFT_EYE) < 0.06);
        assert_eq!(eyes_open(0.28, 0.28), 5.0);
        assert_eq!(eyes_open(0.45, 0.28), 10.0);
        assert_eq!(eyes_open(0.14, 0.28), 0.0);
    }

    #[test]
    fn turned_heads() {
        let mut m = vec![[0.0, 0.0]; POINTS];
        m[LEFT_EYE[0]] = [0.0, 0.0];
        m[RIGHT_EYE[3]] = [10.0, 0.0];
        m[NOSE_TIP] = [5.0, 5.0];
        assert_eq!(head_turn(&m), 0.0);
        m[NOSE_TIP] = [9.0, 5.0];
        assert!((head_turn(&m) - 0.8).abs() < 1e-6);
    }
}
