"""Words the simulated tenants are made of: company, group, project, user and job names, and the
project settings every simulated project shares. Data only."""

from __future__ import annotations

COMPANIES = [
    "Acme Corp", "Globex", "Initech", "Umbrella Analytics", "Stark Industries", "Wayne Enterprises",
    "Hooli", "Vandelay Imports", "Soylent Foods", "Tyrell Systems", "Cyberdyne", "Wonka Confectionery",
    "Oscorp", "Monarch Energy", "Nakatomi Trading", "Aperture Science", "Blue Sun", "Massive Dynamic",
    "Pied Piper", "Dunder Mifflin", "Gekko Capital", "Sirius Cybernetics", "Prestige Worldwide",
    "Bluth Company", "Wernham Hogg", "Virtucon", "Ollivanders", "Krusty Krab", "Cogswell Cogs",
]
LEVEL2 = [
    ("Data Platform", "data-platform"), ("Analytics", "analytics"), ("Data Products", "data-products"),
    ("Engineering", "engineering"), ("Sandbox", "sandbox"), ("Shared Services", "shared-services"),
    ("Finance", "finance"), ("Marketing", "marketing"), ("Sales", "sales"), ("Operations", "operations"),
    ("Supply Chain", "supply-chain"), ("Customer", "customer"),
]
LEVEL3 = [
    ("Ingestion", "ingestion"), ("Transformation", "transformation"), ("Reporting", "reporting"),
    ("Machine Learning", "ml"), ("Governance", "governance"), ("Reference Projects", "reference"),
    ("Team Alpha", "team-alpha"), ("Team Beta", "team-beta"), ("EMEA", "emea"), ("Americas", "americas"),
]
DOMAINS = [
    "Customer 360", "Sales", "Finance", "Marketing", "Supply Chain", "HR", "Product", "Risk",
    "Compliance", "IoT Telemetry", "Logistics", "Retail", "Inventory", "Billing", "Web Analytics",
    "Clinical Trials", "Claims", "Payments", "Pricing", "Churn", "Forecasting", "Procurement",
]
KINDS = [
    "Data Product", "Ingestion", "Transformation", "dbt Models", "Snowflake Setup", "Orchestration",
    "Reporting", "ML Features", "Streamlit App", "Reference Project", "Data Quality", "CDC Pipeline",
    "Data Vault", "Semantic Layer", "Reverse ETL", "Observability",
]
DESCRIPTIONS = [
    "{name}: DataOps pipelines that build and test the {domain} data product in Snowflake.",
    "Ingests {domain} sources into the raw layer and models them with dbt.",
    "{kind} for the {domain} domain, orchestrated by DataOps.live.",
    "Snowflake objects, roles and warehouses for {domain}, managed with SOLE.",
    "Nightly {domain} refresh with data quality checks and generated documentation.",
    "",
]
TOPICS = [
    "snowflake", "dbt", "dataops", "ingestion", "fivetran", "streamlit", "ml", "reference-project",
    "data-product", "soda", "great-expectations", "sole", "mate", "airflow", "talend",
]
FIRST = [
    "Alice", "Bob", "Carla", "Deepak", "Elena", "Farid", "Grace", "Hiro", "Ingrid", "Jamal", "Kasia",
    "Liam", "Mei", "Nikolai", "Olga", "Pedro", "Quinn", "Rosa", "Sanjay", "Tomás", "Uma", "Viktor",
    "Wen", "Ximena", "Yusuf", "Zoë", "Amara", "Bjørn", "Chiara", "Dmitri",
]
LAST = [
    "Smith", "Jones", "Garcia", "Müller", "Rossi", "Nakamura", "Okafor", "Kowalski", "Singh", "Chen",
    "Dubois", "Andersen", "Silva", "Haddad", "O'Brien", "Novak", "Ivanova", "Kim", "Fischer", "Lopez",
]
LOCATIONS = ["London", "Berlin", "New York", "Bangalore", "Sydney", "Toronto", "Lisbon", "Remote", ""]
JOB_TITLES = ["Data Engineer", "Analytics Engineer", "Data Architect", "Platform Engineer", "BI Developer", ""]
JOB_PROJECT = {"ci_job_token_scope_enabled": False}
# (stage, job name) in pipeline order: a DataOps.live "full-ci" pipeline
JOB_TEMPLATE = [
    ("Pipeline Initialisation", "Initialise Pipeline"),
    ("Pipeline Initialisation", "Set Up Snowflake"),
    ("Snowflake Setup", "Snowflake Orchestration"),
    ("Data Ingestion", "Ingest Sales Data"),
    ("Data Ingestion", "Ingest Customer Data"),
    ("Data Transformation", "Build all Models"),
    ("Data Transformation", "Test all Models"),
    ("Data Quality", "Run Soda Checks"),
    ("Generate Docs", "Generate modelling and transformation documentation"),
    ("Clean Up", "Clean Up Snowflake Objects"),
]
PIPELINE_NAMES = ["full-ci.yml", "Nightly refresh", "Daily ingestion", "PR validation", None]
STATUS_WEIGHTS = (("success", 72), ("failed", 14), ("canceled", 6), ("skipped", 4), ("manual", 4))
SOURCES = (("push", 48), ("schedule", 26), ("web", 14), ("api", 6), ("trigger", 4), ("merge_request_event", 2))
FAILURE_REASONS = ["script_failure", "runner_system_failure", "job_execution_timeout", "stuck_or_timeout_failure"]
ACCESS_LEVELS = (10, 20, 30, 40, 50)
ACCESS_WEIGHTS = (10, 15, 45, 20, 10)


# Project settings every simulated project shares: encoded once, appended to each project's JSON.
PROJECT_SETTINGS = {
    "packages_enabled": True,
    "resolve_outdated_diff_discussions": False,
    "repository_object_format": "sha1",
    "issues_enabled": True,
    "merge_requests_enabled": True,
    "wiki_enabled": True,
    "snippets_enabled": True,
    "container_registry_enabled": True,
    "service_desk_enabled": False,
    "service_desk_address": None,
    "can_create_merge_request_in": True,
    "issues_access_level": "enabled",
    "repository_access_level": "enabled",
    "merge_requests_access_level": "enabled",
    "forking_access_level": "enabled",
    "wiki_access_level": "enabled",
    "snippets_access_level": "enabled",
    "analytics_access_level": "enabled",
    "container_registry_access_level": "enabled",
    "security_and_compliance_access_level": "private",
    "releases_access_level": "enabled",
    "environments_access_level": "enabled",
    "feature_flags_access_level": "enabled",
    "infrastructure_access_level": "enabled",
    "monitor_access_level": "enabled",
    "model_experiments_access_level": "enabled",
    "model_registry_access_level": "enabled",
    "emails_disabled": False,
    "emails_enabled": True,
    "shared_runners_enabled": True,
    "lfs_enabled": True,
    "import_url": None,
    "import_type": None,
    "import_status": "none",
    "import_error": None,
    "ci_default_git_depth": 20,
    "ci_delete_pipelines_in_seconds": None,
    "ci_forward_deployment_enabled": True,
    "ci_forward_deployment_rollback_allowed": True,
    "ci_separated_caches": True,
    "ci_allow_fork_pipelines_to_run_in_parent_project": True,
    "ci_id_token_sub_claim_components": ["project_path", "ref_type", "ref"],
    "build_git_strategy": "fetch",
    "keep_latest_artifact": True,
    "restrict_user_defined_variables": False,
    "ci_pipeline_variables_minimum_override_role": "developer",
    "runner_token_expiration_interval": None,
    "group_runners_enabled": True,
    "auto_cancel_pending_pipelines": "enabled",
    "auto_devops_enabled": False,
    "auto_devops_deploy_strategy": "continuous",
    "ci_push_repository_for_job_token_allowed": False,
    "allow_merge_on_skipped_pipeline": None,
    "request_access_enabled": True,
    "only_allow_merge_if_all_discussions_are_resolved": False,
    "remove_source_branch_after_merge": True,
    "printing_merge_request_link_enabled": True,
    "squash_option": "default_off",
    "enforce_auth_checks_on_uploads": True,
    "suggestion_commit_message": None,
    "merge_commit_template": None,
    "squash_commit_template": None,
    "issue_branch_template": None,
    "warn_about_potentially_unwanted_characters": True,
    "autoclose_referenced_issues": True,
    "max_artifacts_size": None,
    "marked_for_deletion_at": None,
    "marked_for_deletion_on": None,
    "package_registry_access_level": "enabled",
    "requirements_access_level": "enabled",
    "operations_access_level": "enabled",
    "show_diff_preview_in_email": True,
    "mr_default_target_self": False,
    "ci_restrict_pipeline_cancellation_role": "developer",
    "ci_display_pipeline_variables": False,
    "protect_merge_request_pipelines": False,
    "resource_group_default_process_mode": "unordered",
    "repository_storage": "default",
    "only_allow_merge_if_all_status_checks_passed": False,
    "merge_request_title_regex": None,
    "merge_request_title_regex_description": None,
    "mr_default_title_template": None,
    "mirror": False,
    "mirror_user_id": None,
    "mirror_trigger_builds": False,
    "only_mirror_protected_branches": None,
    "mirror_overwrites_diverged_branches": None,
    "external_authorization_classification_label": "",
    "requirements_enabled": True,
    "security_and_compliance_enabled": True,
    "pre_receive_secret_detection_enabled": False,
    "issues_template": None,
    "merge_requests_template": None,
    "merge_pipelines_enabled": False,
    "merge_trains_enabled": False,
    "merge_trains_skip_train_allowed": False,
    "max_pipelines_per_merge_train": 20,
    "allow_pipeline_trigger_approve_deployment": False,
    "prevent_merge_without_jira_issue": False,
    "duo_remote_flows_enabled": False,
    "duo_foundational_flows_enabled": False,
    "duo_sast_fp_detection_enabled": False,
    "duo_sast_vr_workflow_enabled": False,
    "web_based_commit_signing_enabled": False,
    "spp_repository_pipeline_access": False,
}

# Other customers on the shared instance, and the vendor's own namespace (instance mode).
CUSTOMERS = ["Globex", "Initech", "Umbrella Analytics", "Hooli", "Vandelay Imports", "Tyrell Systems",
             "Wonka Confectionery", "Massive Dynamic", "Pied Piper", "Cogswell Cogs"]
VENDOR = ("DataOps.live", "dataops-live")
REFERENCE_PROJECTS = [
    "DataOps Reference Project", "Snowflake Object Lifecycle Engine Examples", "dbt Project Template",
    "MATE Modelling Examples", "Streamlit App Template", "Data Product Template", "Ingestion Orchestrators",
    "DataOps Runner Setup", "Data Quality Checks Examples", "Spendview for Snowflake",
]
