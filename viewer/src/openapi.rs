//! `GET /openapi.json`: the API, described as OpenAPI 3.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::query::SORTS;

fn q(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn path_param() -> Value {
    json!({"name": "path", "in": "query", "required": true, "schema": {"type": "string"},
           "description": "The photo's path as stored (URL-encoded); only stored photos are served."})
}

fn person_param() -> Value {
    json!({"name": "person_id", "in": "query", "required": true, "schema": {"type": "integer"},
           "description": "The person's id (`persons.person_id`)."})
}

fn errors() -> Value {
    let e = json!({"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let with = |d: &str| {
        let mut v = e.clone();
        v["description"] = json!(d);
        v
    };
    json!({
        "400": with("A bad parameter; the message names it."),
        "404": with("No such photo (or person; or, for /api/search, no text encoder)."),
        "500": with("Internal error (details in the server's log)."),
    })
}

fn ok(description: &str, content: Value) -> Value {
    let mut r = errors();
    r["200"] = json!({"description": description, "content": content});
    r
}

fn json_ref(name: &str) -> Value {
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}})
}

fn jpeg() -> Value {
    json!({"image/jpeg": {"schema": {"type": "string", "format": "binary"}}})
}

fn post(summary: &str, field: &str, schema: Value) -> Value {
    json!({"post": {
        "summary": summary,
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": ["path", field],
            "properties": {"path": {"type": "string"}, field: schema}}}}},
        "responses": ok("The photo's user state after the change.", json_ref("UserState")),
    }})
}

/// The document, every route.
pub fn spec() -> Value {
    let sorts: Vec<&str> = SORTS.iter().map(|(k, _)| *k).collect();
    let score = json!({"type": "number", "minimum": 0, "maximum": 10});
    let boolean = json!({"type": "boolean"});
    let text = json!({"type": "string"});
    let date = json!({"type": "string", "format": "date"});
    let filters = vec![
        q("category", text.clone(), "Scoring category."),
        q(
            "camera",
            text.clone(),
            "EXIF camera model (`camera_model`).",
        ),
        q("lens", text.clone(), "EXIF lens model."),
        q("tag", text.clone(), "Photos having this tag."),
        q(
            "date_from",
            date.clone(),
            "Taken on or after (YYYY-MM-DD, local time).",
        ),
        q(
            "date_to",
            date,
            "Taken on or before (YYYY-MM-DD, local time).",
        ),
        q("min_score", score.clone(), "Aggregate at least."),
        q("max_score", score.clone(), "Aggregate at most."),
        q("min_aesthetic", score, "Aesthetic at least."),
        q("top_picks", boolean.clone(), "Top Picks only."),
        q(
            "rating_min",
            json!({"type": "integer", "minimum": 0, "maximum": 5}),
            "Rated at least this many stars.",
        ),
        q("favorites", boolean.clone(), "Favourites only."),
        q(
            "hide_rejected",
            boolean.clone(),
            "Hide rejected photos (default viewer.defaults.hide_rejected).",
        ),
        q(
            "hide_bursts",
            boolean.clone(),
            "Only burst leads (default viewer.defaults.hide_bursts).",
        ),
        q(
            "hide_duplicates",
            boolean.clone(),
            "Only duplicate leads (default viewer.defaults.hide_duplicates).",
        ),
        q(
            "person",
            json!({"type": "integer"}),
            "Only the photos of this person (/api/persons); 404 for an unknown person.",
        ),
        q(
            "hide_blinks",
            boolean.clone(),
            "Hide photos whose judged faces blink (`is_blink`, from a faces stage); default viewer.defaults.hide_blinks.",
        ),
        q(
            "show_missing",
            boolean.clone(),
            "Also the photos whose file is gone (`missing_since`, offline); hidden by default.",
        ),
    ];
    let mut list_params = filters;
    list_params.extend([
        q("page", json!({"type": "integer", "minimum": 1, "default": 1}), "Page, from 1."),
        q("per_page", json!({"type": "integer", "minimum": 1, "maximum": crate::settings::MAX_PER_PAGE}),
          "Photos per page (default viewer.pagination.default_per_page; larger values are capped)."),
        q("sort", json!({"type": "string", "enum": sorts}), "Sort key (default viewer.defaults.sort)."),
        q("dir", json!({"type": "string", "enum": ["asc", "desc"]}), "Direction (default viewer.defaults.sort_direction)."),
    ]);
    let mut filtered = list_params.clone();
    filtered.retain(|p| {
        !["page", "per_page", "sort", "dir"].contains(&p["name"].as_str().unwrap_or(""))
    });
    let with_filters = |mut own: Vec<Value>| {
        own.extend(filtered.iter().cloned());
        own
    };
    let int = |lo: u64, hi: u64| json!({"type": "integer", "minimum": lo, "maximum": hi});
    let direction = json!({"type": "string", "enum": ["asc", "desc"], "default": "desc"});
    let mut similar_responses = ok("The nearest photos.", json_ref("Similar"));
    similar_responses["409"] = json!({"description": "The library (or this photo) has no embedding.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut search_responses = ok(
        "The photos, each with `similarity` (the cosine).",
        json_ref("Similar"),
    );
    search_responses["409"] = json!({"description": "The library has no image embeddings from the same encoder.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let nullable = |t: &str| json!({"type": [t, "null"]});
    let photo = json!({
        "type": "object",
        "description": "A photo: the columns of the `photos` view (see `facet schema`) except binary ones, with `filename`.",
        "properties": {
            "path": {"type": "string"}, "filename": {"type": "string"},
            "category": nullable("string"), "aggregate": nullable("number"), "aesthetic": nullable("number"),
            "top_picks_score": nullable("number"), "is_top_pick": nullable("boolean"),
            "date_taken": nullable("string"), "camera_make": nullable("string"), "camera_model": nullable("string"),
            "lens": nullable("string"), "width": nullable("integer"), "height": nullable("integer"),
            "format": nullable("string"), "tags": {"type": ["array", "null"], "items": {"type": "string"}},
            "rating": {"type": "integer"}, "favorite": {"type": "boolean"}, "rejected": {"type": "boolean"},
        },
        "required": ["path", "filename", "rating", "favorite", "rejected"],
    });
    let counts = json!({"type": "array", "items": {"type": "object",
        "properties": {"value": {"type": "string"}, "count": {"type": "integer"}}}});
    let people_and_search = json!({
            "/api/persons": {"get": {
                "summary": "People found by face clustering, most photographed first: id, name, face and photo counts, hidden, thumbnail URL. Their photos: /api/photos?person=ID.",
                "parameters": [
                    q("include_hidden", boolean.clone(), "Also the hidden people (default false)."),
                    q("min_photos", int(0, u32::MAX as u64), "Only people in at least this many photos."),
                    q("limit", int(1, 100_000), "Most people returned."),
                ],
                "responses": ok("The people.", json_ref("Persons")),
            }},
            "/api/persons/thumbnail": {"get": {
                "summary": "The person's representative face crop (faces.thumbnail), else its most confident face's.",
                "parameters": [person_param()],
                "responses": ok("The face crop.", jpeg()),
            }},
            "/api/persons/rename": {"post": {
                "summary": "Name a person (an empty name or null removes it).",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["person_id", "name"],
                    "properties": {"person_id": {"type": "integer"}, "name": {"type": ["string", "null"], "maxLength": 200}}}}}},
                "responses": ok("The person after the change.", json_ref("Person")),
            }},
            "/api/persons/hide": {"post": {
                "summary": "Hide or show a person.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["person_id", "hidden"],
                    "properties": {"person_id": {"type": "integer"}, "hidden": {"type": "boolean"}}}}}},
                "responses": ok("The person after the change.", json_ref("Person")),
            }},
            "/api/persons/merge": {"post": {
                "summary": "Merge person `from` into person `into`: its faces move (kept there by later clusterings as manual assignments), `from` is removed.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["into", "from"],
                    "properties": {"into": {"type": "integer"}, "from": {"type": "integer"}}}}}},
                "responses": ok("The merged person, with `merged` (the id removed) and `faces_moved`.", json_ref("Person")),
            }},
            "/api/search": {"get": {
                "summary": "Semantic text search: the query embedded by the pipeline's text encoder (facet serve --pipeline; the zero_shot_tags stage's text model), photos ranked by cosine similarity to their image embedding, most similar first. The filters of /api/photos apply to the nearest 4 × limit. 404 when the server has no text encoder. Off with viewer.features.show_semantic_search.",
                "parameters": with_filters(vec![
                    json!({"name": "q", "in": "query", "required": true, "schema": {"type": "string", "maxLength": 500}, "description": "What to look for, in words."}),
                    q("limit", int(1, crate::settings::MAX_PER_PAGE as u64), "Most photos returned (default viewer.pagination.default_per_page)."),
                ]),
                "responses": search_responses,
            }},
    });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Facet gallery",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Browse, filter and curate the photos of a Facet store.",
        },
        "paths": {
            "/api/photos": {"get": {
                "summary": "A page of photos, filtered and sorted.",
                "parameters": list_params,
                "responses": ok("The page.", json_ref("PhotoPage")),
            }},
            "/api/photo": {"get": {
                "summary": "One photo: every stored column except binary ones, EXIF, metrics, the parsed score breakdown and the user state.",
                "parameters": [path_param()],
                "responses": ok("The photo.", json_ref("PhotoDetail")),
            }},
            "/api/groups": {"get": {
                "summary": "The photo's burst, duplicate and similar groups (null when in none): the lead, why in English words (`why`), as codes the page words in its language (`why_codes`: sharpest, eyes_open, best_score, most_pleasing, largest) and as stored (`reason`), the user's `decision` (lead, keep_all or null), and every member as a photo of /api/photos with `is_lead`, leads first then by score.",
                "parameters": [path_param()],
                "responses": ok("The groups.", json!({"application/json": {"schema": {"type": "object"}}})),
            }},
            "/api/failures": {"get": {
                "summary": "The files a run could not analyse (corrupt, truncated, unsupported), of this session's folders, by path: `total`, and the first 500 with `path`, `filename`, `stage`, `reason`, `failed_at`.",
                "responses": ok("The failures.", json!({"application/json": {"schema": {"type": "object"}}})),
            }},
            "/api/groups/decide": {"post": {
                "summary": "Choose the photo as its group's lead (`lead`), keep every member (`keep_all`), or hand the group back to the automatic choice (`reset`). The groups are detected again (incrementally) before the answer, which is /api/groups of the photo. Admins only in multi-user mode.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["path", "kind", "decision"],
                    "properties": {"path": {"type": "string"},
                                   "kind": {"type": "string", "enum": ["burst", "duplicate", "similar"]},
                                   "decision": {"type": "string", "enum": ["lead", "keep_all", "reset"]}}}}}},
                "responses": ok("The photo's groups after the decision.", json!({"application/json": {"schema": {"type": "object"}}})),
            }},
            "/thumbnail": {"get": {
                "summary": "The photo's JPEG thumbnail (cacheable; ETag).",
                "parameters": [path_param()],
                "responses": ok("The thumbnail.", jpeg()),
            }},
            "/image": {"get": {
                "summary": "The original for JPEG, PNG, WebP, GIF and BMP; the thumbnail for other formats.",
                "parameters": [path_param()],
                "responses": ok("The image.", json!({"image/*": {"schema": {"type": "string", "format": "binary"}}})),
            }},
            "/api/download": {"get": {
                "summary": "The original file, as an attachment.",
                "parameters": [path_param()],
                "responses": ok("The file.", json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})),
            }},
            "/api/filter_options": {"get": {
                "summary": "The dropdowns' values with counts, most frequent first (viewer.dropdowns limits). With `field`, a search over every value of one dropdown: `{field, q, total, values}`, the values containing `q` (case-insensitive substring; all when empty), most frequent first, at most `limit`, and `total`, how many match.",
                "parameters": [
                    q("field", json!({"type": "string", "enum": crate::options::FIELDS}), "Search one dropdown's values (400 naming `field` for another)."),
                    q("q", json!({"type": "string"}), "What the values contain, in any case (needs `field`)."),
                    q("limit", json!({"type": "integer", "minimum": 1, "maximum": crate::options::MAX_MATCHES}), "Most values returned (default: the dropdown's viewer.dropdowns limit without `q`, 200 with it)."),
                ],
                "responses": ok("The options, or with `field` the matching values.", json_ref("FilterOptions")),
            }},
            "/api/type_counts": {"get": {
                "summary": "Counts of all photos, Top Picks and each category.",
                "parameters": [q("hide_rejected", boolean, "Leave rejected photos out of the counts.")],
                "responses": ok("The counts.", json_ref("TypeCounts")),
            }},
            "/api/config": {"get": {
                "summary": "The viewer settings the UI uses (pagination, defaults, thumbnail slider, quality thresholds).",
                "responses": ok("The settings.", json!({"application/json": {"schema": {"type": "object"}}})),
            }},
            "/api/rating": post("Rate a photo (0 clears the rating).", "rating", json!({"type": "integer", "minimum": 0, "maximum": 5})),
            "/api/favorite": post("Mark or unmark a favourite.", "favorite", json!({"type": "boolean"})),
            "/api/reject": post("Reject or un-reject a photo.", "rejected", json!({"type": "boolean"})),
            "/api/timeline": {"get": {
                "summary": "Photos by capture date (`date_taken`): the years, a year's months (`year`) or a month's days (`year`, `month`), each with its count and up to `timeline.photos_per_group` photos (the group's best, in capture order). Takes the filters of /api/photos. Off with viewer.features.show_timeline.",
                "parameters": with_filters(vec![
                    q("year", int(1, 9999), "Drill down to this year's months."),
                    q("month", int(1, 12), "With `year`: drill down to this month's days."),
                    q("per_group", int(1, crate::settings::MAX_PER_PAGE as u64), "Photos per group (default timeline.photos_per_group)."),
                    q("dir", direction.clone(), "Group order: newest first (desc, default) or oldest first."),
                ]),
                "responses": ok("The groups.", json_ref("Timeline")),
            }},
            "/api/memories": {"get": {
                "summary": "On this day: photos taken on the date's month and day in earlier years, best first. Takes the filters of /api/photos. Off with viewer.features.show_memories.",
                "parameters": with_filters(vec![
                    q("date", json!({"type": "string", "format": "date"}), "The day (YYYY-MM-DD; default today, UTC)."),
                    q("limit", int(1, crate::settings::MAX_PER_PAGE as u64), "Most photos returned (default viewer.pagination.default_per_page)."),
                ]),
                "responses": ok("The memories.", json_ref("Memories")),
            }},
            "/api/map": {"get": {
                "summary": "Geotagged photos (`gps_lat`, `gps_lon`) in a box, clustered on a grid of Web-Mercator tile quarters at this zoom (count, centre, best photo), one by one at or above map.cluster_zoom_threshold; most populous first, at most 2000 markers. Takes the filters of /api/photos. Off unless viewer.features.show_map.",
                "parameters": with_filters(vec![
                    q("zoom", int(0, 22), "Map zoom level (default 2)."),
                    q("bbox", text.clone(), "west,south,east,north in degrees (Leaflet's toBBoxString); longitudes may run past ±180. Default: the world."),
                ]),
                "responses": ok("The markers.", json_ref("Map")),
            }},
            "/api/similar": {"get": {
                "summary": "The photos nearest to this one by cosine distance of the `embedding` column (the store's vector index), nearest first. Off with viewer.features.show_similar_button.",
                "parameters": [path_param(), q("limit", json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}), "Most photos returned.")],
                "responses": similar_responses,
            }},
            "/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3"}}}},
            "/api/comparison/pair": {"get": {
                "summary": "Comparison mode: two photos of a category not compared yet (viewer.comparison_mode).",
                "parameters": [
                    {"name": "category", "in": "query", "required": true, "schema": text.clone(), "description": "The category to compare in."},
                    q("strategy", json!({"type": "string", "enum": facet_stages::score::compare::Strategy::NAMES}), "How the pair is picked (default: pair_selection_strategy)."),
                ],
                "responses": ok("The pair (`a`, `b`: path, filename, aggregate when show_current_scores) and the count of comparisons; 404 when every pair has been compared.", json!({"application/json": {}})),
            }},
            "/api/comparison": {"post": {
                "summary": "Record a choice: `winner` is better than `loser` (or a `tie`); both scored, same category.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["winner", "loser"],
                    "properties": {"winner": text.clone(), "loser": text.clone(), "tie": {"type": "boolean"}, "strategy": text.clone()}}}}},
                "responses": ok("The category and its number of comparisons.", json!({"application/json": {}})),
            }},
            "/api/comparison/suggestion": {"get": {
                "summary": "The category's current weights and, from min_comparisons_for_optimization choices on, the weights a Bradley-Terry fit of the choices suggests, with how many choices each predicts.",
                "parameters": [{"name": "category", "in": "query", "required": true, "schema": text.clone(), "description": "The category."}],
                "responses": ok("current, suggested, agreement_current, agreement_suggested, comparisons, ready.", json!({"application/json": {}})),
            }},
            "/api/login": {"post": {
                "summary": "Log in: single-user mode with viewer.password (view) or viewer.edition_password (view and edit); multi-user mode (`users`) with a user name and that user's password. Sets an HttpOnly, SameSite=Strict session cookie. 401 wrong name or password, 429 too many failures.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["password"], "properties": {"password": text.clone(), "username": text.clone()}}}}},
                "responses": {"200": {"description": "Logged in."}, "401": {"description": "Wrong password."}, "429": {"description": "Too many failed logins from this client."}},
            }},
            "/api/logout": {"post": {"summary": "End this session (held by the server: its cookie then gets 401) and clear the cookie.", "responses": {"200": {"description": "Logged out."}}}},
            "/api/me": {"get": {"summary": "Who this session is (multi_user, user: name, display_name, role) and what it may do (can_view, can_edit, can_manage_people, can_scan); which passwords are set.", "responses": {"200": {"description": "The session."}}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "properties": {
                "error": {"type": "string"},
                "param": {"type": "string", "description": "The bad parameter (400 only)."}}},
            "Photo": photo,
            "PhotoPage": {"type": "object", "required": ["photos", "total", "page", "per_page"], "properties": {
                "photos": {"type": "array", "items": {"$ref": "#/components/schemas/Photo"}},
                "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "sort": {"type": "string"}, "dir": {"type": "string"}, "has_more": {"type": "boolean"},
                "hidden": {"type": ["object", "null"], "description": "Page 1 only: how many photos matching the filters the gallery hides by default (`total`, and per reason: rejected, burst, duplicate, blink). Each such photo, when shown (hide_*=false), lists its reasons in `hidden_by`."}}},
            "PhotoDetail": {"allOf": [{"$ref": "#/components/schemas/Photo"}, {"type": "object", "properties": {
                "score_breakdown": {"type": ["array", "null"], "description": "The critique: items of kind `metric` (metric, raw, normalized, weight_percent, points, neutral) and `adjustment` (name, points, reason)."}}}]},
            "FilterOptions": {"type": "object", "properties": {
                "categories": counts, "cameras": counts, "lenses": counts, "tags": counts,
                "field": {"type": "string"}, "q": {"type": "string"}, "total": {"type": "integer"}, "values": counts}},
            "TypeCounts": {"type": "object", "properties": {
                "all": {"type": "integer"}, "top_picks": {"type": "integer"}, "categories": counts}},
            "Timeline": {"type": "object", "properties": {
                "level": {"type": "string", "enum": ["year", "month", "day"]},
                "year": nullable("integer"), "month": nullable("integer"),
                "total": {"type": "integer"}, "undated": {"type": ["integer", "null"], "description": "Photos without a capture date (year level only)."},
                "per_group": {"type": "integer"},
                "groups": {"type": "array", "items": {"type": "object", "properties": {
                    "key": {"type": "string", "description": "YYYY, YYYY-MM or YYYY-MM-DD."},
                    "year": {"type": "integer"}, "month": nullable("integer"), "day": nullable("integer"),
                    "count": {"type": "integer"},
                    "photos": {"type": "array", "items": {"$ref": "#/components/schemas/Photo"}}}}}}},
            "Memories": {"type": "object", "properties": {
                "date": {"type": "string", "format": "date"}, "total": {"type": "integer"},
                "years": {"type": "array", "items": {"type": "object", "properties": {"year": {"type": "integer"}, "count": {"type": "integer"}}}},
                "photos": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Photo"},
                    {"type": "object", "properties": {"years_ago": {"type": "integer"}}}]}}}},
            "Map": {"type": "object", "properties": {
                "zoom": {"type": "integer"}, "clustered": {"type": "boolean"},
                "cluster_zoom_threshold": {"type": "integer"}, "total": {"type": "integer", "description": "Geotagged photos in the box."},
                "truncated": {"type": "boolean"},
                "markers": {"type": "array", "items": {"type": "object", "properties": {
                    "lat": {"type": "number"}, "lon": {"type": "number"}, "count": {"type": "integer"},
                    "photo": {"$ref": "#/components/schemas/Photo"}}}}}},
            "Similar": {"type": "object", "properties": {
                "path": {"type": "string"},
                "photos": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Photo"},
                    {"type": "object", "properties": {"similarity": {"type": "number", "description": "Cosine similarity."}}}]}}}},
            "Person": {"type": "object", "properties": {
                "person_id": {"type": "integer"}, "name": nullable("string"),
                "face_count": {"type": "integer"}, "photo_count": {"type": "integer"},
                "hidden": {"type": "boolean"}, "representative_face": nullable("string"),
                "thumbnail": {"type": "string", "description": "The URL of the face crop."}}},
            "Persons": {"type": "object", "properties": {
                "total": {"type": "integer"}, "hidden": {"type": "integer", "description": "Hidden people (all)."},
                "persons": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}}}},
            "UserState": {"type": "object", "properties": {
                "path": {"type": "string"}, "rating": {"type": "integer"},
                "favorite": {"type": "boolean"}, "rejected": {"type": "boolean"}}},
        }},
    });
    // The session routes (their own literal: one would pass the macro's
    // recursion limit).
    let sessions = json!({
            "/api/auth/logout-all": {"post": {
                "summary": "Log out everywhere: end every session of this member (single-user mode: of this access level), this one included, and clear the cookie.",
                "responses": {"200": {"description": "`ok`, and `revoked`: how many sessions ended.", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"ok": {"type": "boolean"}, "revoked": {"type": "integer"}}}}}},
                    "401": {"description": "No session."}},
            }},
            "/api/auth/password": {"post": {
                "summary": "Change the member's password (multi-user mode), written into the configuration file; every other session of the member ends, this one stays. 400 naming `current_password` when it is wrong, `new_password` when under 8 characters or in single-user mode; 429 after too many wrong passwords.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["current_password", "new_password"],
                    "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string", "minLength": 8}}}}}},
                "responses": {"200": {"description": "`ok`, and `revoked`: how many other sessions ended.", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"ok": {"type": "boolean"}, "revoked": {"type": "integer"}}}}}},
                    "400": {"description": "A wrong current password, or a bad new one (the parameter is named).", "content": json_ref("Error")},
                    "401": {"description": "No session."},
                    "429": {"description": "Too many wrong passwords for this member or client in a minute."}},
            }}
    });
    // The page, the albums and the scans (literals of their own, as above).
    let page = json!({
            "/": {"get": {
                "summary": "The gallery's web page (public; it asks for a login when the API answers 401).",
                "responses": {"200": {"description": "The page.", "content": {"text/html": {}}}},
            }},
            "/assets/{file}": {"get": {
                "summary": "The page's embedded scripts, styles, fonts and icons (public).",
                "parameters": [{"name": "file", "in": "path", "required": true, "schema": {"type": "string"},
                                "description": "The asset's path under assets/."}],
                "responses": {"200": {"description": "The asset."}, "404": {"description": "No such asset."}},
            }},
            "/manifest.webmanifest": {"get": {
                "summary": "The web app manifest (public).",
                "responses": {"200": {"description": "The manifest.", "content": {"application/manifest+json": {}}}},
            }},
            "/sw.js": {"get": {
                "summary": "The service worker (public).",
                "responses": {"200": {"description": "The script.", "content": {"text/javascript": {}}}},
            }},
            "/api/scan": {
                "get": {
                    "summary": "The latest scan's progress and outcome (running, directories, started_by, started_at, finished_at, found, skipped, queued, done, scanning, exit_code, log). Superadmins only in multi-user mode, the edition password in single-user mode. Off unless viewer.features.show_scan_button.",
                    "responses": ok("The scan's status.", json_ref("ScanStatus")),
                },
                "post": {
                    "summary": "Start a scan of `directories` (default: every folder this session may scan: members' and shared directories in multi-user mode, else the folders of the store's photos); each must hold photos of this library. 409 while a scan runs. Superadmins only in multi-user mode. Off unless viewer.features.show_scan_button.",
                    "requestBody": {"required": false, "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"directories": {"type": "array", "items": {"type": "string"}}}}}}},
                    "responses": ok("The scan started (its status).", json_ref("ScanStatus")),
                },
            },
    });
    let id_body = |extra: Value| {
        let mut props = json!({"id": {"type": "string"}});
        if let (Some(p), Value::Object(more)) = (props.as_object_mut(), extra) {
            p.extend(more);
        }
        json!({"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": ["id"], "properties": props}}}})
    };
    let albums = json!({
            "/api/albums": {
                "get": {
                    "summary": "This session's albums (a member's own; everyone's in single-user mode) with their photo counts. Off with viewer.features.show_albums.",
                    "responses": ok("`albums`: each an Album.", json!({"application/json": {"schema": {"type": "object", "properties": {
                        "albums": {"type": "array", "items": {"$ref": "#/components/schemas/Album"}}}}}})),
                },
                "post": {
                    "summary": "A new album: manual, or smart when it has a `query` (a saved /api/photos query string, checked like its parameters).",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["name"],
                        "properties": {"name": {"type": "string", "maxLength": 200}, "query": {"type": ["string", "null"]}}}}}},
                    "responses": ok("The album.", json_ref("Album")),
                },
            },
            "/api/album": {"get": {
                "summary": "A page of the album's photos, as /api/photos shows them, with `album` and (when shared) `share_url`. 404 for another member's album.",
                "parameters": [
                    {"name": "id", "in": "query", "required": true, "schema": {"type": "string"}, "description": "The album's id."},
                    q("page", json!({"type": "integer", "minimum": 1}), "Page, from 1."),
                    q("per_page", json!({"type": "integer", "minimum": 1}), "Photos per page."),
                    q("sort", text.clone(), "Sort key."),
                    q("dir", json!({"type": "string", "enum": ["asc", "desc"]}), "Direction."),
                ],
                "responses": ok("The page.", json_ref("PhotoPage")),
            }},
            "/api/album/update": {"post": {
                "summary": "Rename an album, or change a smart album's query.",
                "requestBody": id_body(json!({"name": {"type": "string"}, "query": {"type": ["string", "null"]}})),
                "responses": ok("The album.", json_ref("Album")),
            }},
    });
    let album_changes = json!({
            "/api/album/photos": {"post": {
                "summary": "Add photos to a manual album or remove them (at most 1000 a request); each added photo must be one the session sees.",
                "requestBody": id_body(json!({"add": {"type": "array", "items": {"type": "string"}},
                                              "remove": {"type": "array", "items": {"type": "string"}}})),
                "responses": ok("The album.", json_ref("Album")),
            }},
            "/api/album/delete": {"post": {
                "summary": "Delete an album and its photo list (never the photos).",
                "requestBody": id_body(json!({})),
                "responses": ok("`deleted`: the album's id.", json!({"application/json": {}})),
            }},
            "/api/album/share": {"post": {
                "summary": "The album's share link `/?share=TOKEN` (the current one when shared; with `new`, a new one, and older links stop working).",
                "requestBody": id_body(json!({"new": {"type": "boolean"}})),
                "responses": ok("`id`, `token`, `url`.", json!({"application/json": {}})),
            }},
            "/api/album/unshare": {"post": {
                "summary": "Every share link of the album stops working.",
                "requestBody": id_body(json!({})),
                "responses": ok("`id`, `shared`: false.", json!({"application/json": {}})),
            }},
            "/api/shared": {"get": {
                "summary": "A shared album's page of photos, for the holder of its link (`share`); its thumbnails, images and downloads take the same `share` parameter. 404 for a wrong or revoked link.",
                "parameters": [
                    {"name": "share", "in": "query", "required": true, "schema": {"type": "string"}, "description": "The link's token."},
                    q("page", json!({"type": "integer", "minimum": 1}), "Page, from 1."),
                ],
                "responses": ok("The page, with `album`: name and count.", json_ref("PhotoPage")),
            }},
    });
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.insert("Album".into(), json!({"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["manual", "smart"]},
            "query": nullable("string"), "shared": {"type": "boolean"}, "count": {"type": "integer"}}}));
        schemas.insert("ScanStatus".into(), json!({"type": "object", "properties": {
            "running": {"type": "boolean"}, "directories": {"type": "array", "items": {"type": "string"}},
            "started_by": nullable("string"), "started_at": nullable("integer"), "finished_at": nullable("integer"),
            "found": {"type": "integer"}, "skipped": {"type": "integer"}, "queued": {"type": "integer"},
            "done": {"type": "integer"}, "scanning": {"type": "boolean"}, "exit_code": nullable("integer"),
            "log": {"type": "array", "items": {"type": "string"}}}}));
    }
    for more in [page, albums, album_changes] {
        if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), more) {
            paths.extend(more);
        }
    }
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), people_and_search) {
        paths.extend(more);
    }
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), sessions) {
        paths.extend(more);
    }
    doc
}

/// `GET /openapi.json`: the routes this server has (not those of features
/// switched off).
pub async fn document(State(state): State<AppState>) -> Json<Value> {
    let f = &state.settings().features;
    let mut doc = spec();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for r in crate::routes::table() {
            if r.enabled(f) {
                continue;
            }
            let path = r.openapi_path();
            let method = r.method.as_str().to_lowercase();
            if let Some(ops) = paths.get_mut(&path).and_then(Value::as_object_mut) {
                ops.remove(&method);
                if ops.is_empty() {
                    paths.remove(&path);
                }
            }
        }
    }
    Json(doc)
}
