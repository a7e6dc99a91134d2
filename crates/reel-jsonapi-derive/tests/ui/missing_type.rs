use reel_jsonapi::Resource;

#[derive(Resource)]
struct Person {
    #[jsonapi(id)]
    id: u64,
}

fn main() {}
