//! Places: great-circle distances, and offline reverse geocoding for the
//! titles of journeys and locations.
//!
//! [`GeoNames`] asks the `reverse_geocoder` crate, which embeds GeoNames'
//! cities of more than 1,000 inhabitants (about 145,000, parsed into a k-d
//! tree over the unit sphere on first use), for the city nearest to the
//! centre of the photo's 0.1° grid cell (about 11 km), and keeps the answer
//! per cell: a library of a million photos from a few hundred places asks a
//! few hundred times. A cell farther than [`MAX_PLACE_KM`] from any city
//! (at sea, in a desert) has no name; titles then show coordinates, as they
//! do with `reverse_geocoding: false` ([`Coordinates`]).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The Earth's mean radius, km.
const EARTH_KM: f64 = 6371.0;
/// A cell whose nearest city is farther than this has no place name.
pub const MAX_PLACE_KM: f64 = 60.0;

/// Great-circle distance (haversine), km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_KM * h.sqrt().min(1.0).asin()
}

/// The 0.1° grid cell of a position.
pub fn cell(lat: f64, lon: f64) -> (i32, i32) {
    ((lat * 10.0).floor() as i32, (lon * 10.0).floor() as i32)
}

/// A named place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Place {
    /// The city or town.
    pub name: String,
    /// Its first-level region (state, province).
    pub region: String,
    /// ISO 3166 country code.
    pub country: String,
}

/// What names places.
pub trait Places: Send + Sync {
    /// The place at a position, `None` when it has no name.
    fn place(&self, lat: f64, lon: f64) -> Option<Place>;
}

/// No names: titles show coordinates (`reverse_geocoding: false`).
pub struct Coordinates;

impl Places for Coordinates {
    fn place(&self, _: f64, _: f64) -> Option<Place> {
        None
    }
}

/// A position as a title shows it without a place name: "38.7°N 9.1°W".
pub fn coordinates(lat: f64, lon: f64) -> String {
    format!(
        "{:.1}°{} {:.1}°{}",
        lat.abs(),
        if lat < 0.0 { 'S' } else { 'N' },
        lon.abs(),
        if lon < 0.0 { 'W' } else { 'E' }
    )
}

/// GeoNames' cities, asked once per 0.1° cell.
#[derive(Default)]
pub struct GeoNames {
    cells: Mutex<HashMap<(i32, i32), Option<Place>>>,
}

fn geocoder() -> &'static reverse_geocoder::ReverseGeocoder {
    static G: OnceLock<reverse_geocoder::ReverseGeocoder> = OnceLock::new();
    G.get_or_init(reverse_geocoder::ReverseGeocoder::new)
}

impl GeoNames {
    /// The process's geocoder (its cell cache shared by every request).
    pub fn shared() -> &'static GeoNames {
        static G: OnceLock<GeoNames> = OnceLock::new();
        G.get_or_init(GeoNames::default)
    }

    /// Cells asked so far.
    pub fn cached_cells(&self) -> usize {
        self.cells.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn lookup(lat: f64, lon: f64) -> Option<Place> {
        let r = geocoder().search((lat, lon));
        // The tree's distance is the squared chord on the unit sphere.
        let chord = r.distance.max(0.0).sqrt();
        let km = 2.0 * (chord / 2.0).min(1.0).asin() * EARTH_KM;
        (km <= MAX_PLACE_KM).then(|| Place {
            name: r.record.name.clone(),
            region: r.record.admin1.clone(),
            country: r.record.cc.clone(),
        })
    }
}

impl Places for GeoNames {
    fn place(&self, lat: f64, lon: f64) -> Option<Place> {
        if !(lat.is_finite() && lon.is_finite()) {
            return None;
        }
        let c = cell(lat, lon);
        if let Some(p) = self.cells.lock().unwrap_or_else(|e| e.into_inner()).get(&c) {
            return p.clone();
        }
        // The cell's centre: every photo of the cell gets the same name.
        let p = Self::lookup((f64::from(c.0) + 0.5) / 10.0, (f64::from(c.1) + 0.5) / 10.0);
        self.cells
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c, p.clone());
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_great_circle() {
        let paris = (48.8566, 2.3522);
        let london = (51.5074, -0.1278);
        let d = distance_km(paris, london);
        assert!((d - 343.5).abs() < 2.0, "{d}");
        assert_eq!(distance_km(paris, paris), 0.0);
    }

    #[test]
    fn geonames_names_cities_and_caches_per_cell() {
        let g = GeoNames::default();
        let lisbon = g.place(38.72, -9.14).expect("a place");
        assert_eq!(lisbon.country, "PT");
        assert_eq!(lisbon.name, "Lisbon");
        let tokyo = g.place(35.68, 139.76).expect("a place");
        assert_eq!(tokyo.country, "JP");
        // The same cell: answered from the cache.
        let before = g.cached_cells();
        assert_eq!(g.place(38.75, -9.11), Some(lisbon));
        assert_eq!(g.cached_cells(), before);
        // The middle of the Pacific has no city within reach.
        assert_eq!(g.place(-30.0, -140.0), None);
        assert_eq!(coordinates(38.72, -9.14), "38.7°N 9.1°W");
    }
}
