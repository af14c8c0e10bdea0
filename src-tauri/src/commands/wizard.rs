use bucketsync_api::provider::ProviderInfo;
use bucketsync_api::Api;

#[tauri::command]
pub fn providers(api: tauri::State<'_, Api>) -> Vec<ProviderInfo> {
    api.providers()
}
