use reel_jsonapi::Resource;

#[derive(Resource)]
#[jsonapi(type = "people", colour = "red")]
struct Person {
    #[jsonapi(id)]
    id: u64,
}

fn main() {}
