use bucketsync_api::draft::{DraftCheck, DraftTest, PolicyDraft};
use bucketsync_api::policy::{CorsResult, PolicySaved, PolicyView};
use bucketsync_api::provider::ProviderInfo;
use bucketsync_api::{Api, ApiError};
use tauri::State;

#[tauri::command]
pub async fn providers(api: State<'_, Api>) -> Result<Vec<ProviderInfo>, ApiError> {
    Ok(api.providers())
}

#[tauri::command]
pub async fn list_policies(api: State<'_, Api>) -> Result<Vec<PolicyView>, ApiError> {
    api.list_policies()
}

#[tauri::command]
pub async fn check_policy(api: State<'_, Api>, draft: PolicyDraft) -> Result<DraftCheck, ApiError> {
    Ok(api.check_policy(&draft))
}

#[tauri::command]
pub async fn test_policy(api: State<'_, Api>, draft: PolicyDraft) -> Result<DraftTest, ApiError> {
    api.test_policy(draft).await
}

#[tauri::command]
pub async fn save_policy(
    api: State<'_, Api>,
    draft: PolicyDraft,
    anyway: bool,
) -> Result<PolicySaved, ApiError> {
    api.save_policy(draft, anyway).await
}

#[tauri::command]
pub async fn discard_draft(api: State<'_, Api>, draft_id: String) -> Result<(), ApiError> {
    api.discard_draft(&draft_id);
    Ok(())
}

#[tauri::command]
pub async fn remove_policy(api: State<'_, Api>, name: String) -> Result<(), ApiError> {
    api.remove_policy(&name).await
}

#[tauri::command]
pub async fn apply_cors(
    api: State<'_, Api>,
    name: String,
    origins: Vec<String>,
) -> Result<CorsResult, ApiError> {
    api.cors_policy(&name, &origins).await
}
