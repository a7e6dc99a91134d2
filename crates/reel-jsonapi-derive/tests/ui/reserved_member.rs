use reel_jsonapi::Resource;

#[derive(Resource)]
#[jsonapi(type = "people")]
struct Person {
    #[jsonapi(id)]
    id: u64,
    links: String,
}

fn main() {}
