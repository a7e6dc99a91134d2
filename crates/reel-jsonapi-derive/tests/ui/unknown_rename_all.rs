use reel_jsonapi::Resource;

#[derive(Resource)]
#[jsonapi(type = "people", rename_all = "SCREAMING")]
struct Person {
    #[jsonapi(id)]
    id: u64,
}

fn main() {}
