"""Every setting is live (issue 12): each variable docs/configuration.md lists has a test that
shows its effect, or the variable is removed. ``EFFECTS`` names those tests; the tests below fail
when a documented variable has no entry, when an entry names a variable that is not documented,
or when a named test does not exist.

How to register a new variable: add to ``EFFECTS`` the pytest node ids of the tests that show
what changes when it is set ("path/to/test_file.py::test_name", without parameters), after
reading them: a test that only checks the default value, or that the setting parses, shows no
effect. Prefer a black-box test here in tests/acceptance (run `ragbot` with the variable set, look
at what the user, the platform or the model server sees). Where only a lower-level test can see
the effect (a thread count, a graph parameter), name it and say why in a comment. A variable
no test can show the effect of does nothing: wire it or remove it from the settings."""

from __future__ import annotations

import re

from acceptance_harness import REPO

CONFIGURATION = REPO / "docs" / "configuration.md"

A = "tests/acceptance/"
COMMANDS = A + "test_settings_commands.py::"
SERVE = A + "test_settings_serve.py::"
QDRANT = A + "test_settings_qdrant.py::test_the_vectors_go_to_the_qdrant_server_as_configured"
CLASSIFY = A + "test_settings_classify.py::test_the_classifier_stages_follow_their_settings"
COMPOSE_EFFECT = (
    "tests/integration/test_deploy_files.py::test_each_compose_variable_reaches_the_merged_configuration"
)
COMPOSE_DOCUMENTED = (
    "tests/integration/test_deploy_files.py::test_a_variable_has_one_default_per_file_and_the_documented_one"
)

ENGINES = COMMANDS + "test_data_dir_the_logs_and_what_the_engines_are_built_with"
CHUNKING = COMMANDS + "test_chunk_sizes_follow_the_chunking_settings"
FETCHING = COMMANDS + "test_fetch_timeout_user_agent_and_file_size_limit"
RETRIEVAL = COMMANDS + "test_retrieval_settings_change_what_search_returns"
RERANK = COMMANDS + "test_rerank_reorders_the_first_candidates_with_the_model_given"
CONTEXT = COMMANDS + "test_the_context_settings_choose_the_passages_the_model_reads"
REQUEST = COMMANDS + "test_the_model_request_carries_the_llm_settings"
RETRIES = COMMANDS + "test_llm_retries_and_timeout"
PROTOCOLS = COMMANDS + "test_llm_mode_speaks_the_servers_protocol"
EMBEDDED = COMMANDS + "test_the_embedded_model_runs_with_its_threads_slots_and_context"
CACHE = SERVE + "test_cache_size_history_turns_scheduler_off_and_host"
CONCURRENCY = SERVE + "test_concurrency_cache_ttl_and_shutdown_grace"
FAILING_PIN = SERVE + "test_a_failing_pin_is_retried_and_alerted_as_configured"
SLACK = A + "test_slack.py::"
TELEGRAM = A + "test_telegram.py::"
BOT = "tests/bot/"
CONSOLE_SERVE = "tests/integration/test_console_serve.py::"

QDRANT_SCALE = (
    "tests/contract/test_qdrant_collection.py::test_a_new_collection_is_created_with_the_scale_out_settings"
)
SITES = "tests/unit/test_site_sources.py::"
FEEDBACK = "tests/unit/test_feedback_retrieval.py::"
VERIFIED = A + "test_settings_feedback.py::test_the_verified_settings_decide_which_questions_it_takes"
CONFLUENCE = [
    "tests/unit/test_confluence_sources.py::test_the_settings_choose_the_credentials",
    "tests/unit/test_confluence_sources.py::test_the_cli_pins_a_confluence_space_with_the_settings_of_the_environment",
]

EFFECTS: dict[str, list[str]] = {
    # -- General
    "DATA_DIR": [ENGINES],
    "DATABASE_URL": [
        A + "test_start_and_storage.py::test_serve_runs_on_sqlite_however_the_url_is_written",
        A + "test_start_and_storage.py::test_serve_runs_on_postgresql",
    ],
    "DATABASE_AUTO_MIGRATE": [COMMANDS + "test_without_auto_migrate_a_new_database_waits_for_db_upgrade"],
    "LOG_LEVEL": [ENGINES],
    "LOG_FORMAT": [ENGINES],
    # -- Embeddings. Thread count and batch size change no result: the test reads them in the
    # embedder's own start record (the engine options it set), the way an operator checks them.
    "EMBEDDING_MODEL": [ENGINES, FETCHING],
    "EMBEDDING_BATCH_SIZE": [ENGINES],
    "EMBEDDING_THREADS": [
        ENGINES,
        "tests/contract/test_embedders.py::test_minilm_runs_with_embedding_threads_in_any_executor_thread",
    ],
    # -- Qdrant. The embedded engine writes m and ef_construct into its own configuration file
    # (ENGINES); a Qdrant server receives all of them (QDRANT, a recording local server). The
    # embedded engine takes ef with each search and reports it nowhere: QDRANT shows ragbot
    # sending it; a recall difference would need a graph of thousands of points per test.
    "QDRANT_URL": [QDRANT],
    "QDRANT_API_KEY": [QDRANT],
    "QDRANT_COLLECTION": [QDRANT, ENGINES],
    "QDRANT_HNSW_M": [QDRANT, ENGINES],
    "QDRANT_HNSW_EF_CONSTRUCT": [QDRANT, ENGINES],
    "QDRANT_HNSW_EF": [QDRANT],
    "QDRANT_TIMEOUT": [QDRANT],
    # -- Ingestion
    "INGEST_MAX_FILE_MB": [FETCHING],
    "INGEST_CHUNK_TARGET_TOKENS": [CHUNKING],
    "INGEST_CHUNK_MAX_TOKENS": [CHUNKING],
    "INGEST_CHUNK_MIN_TOKENS": [CHUNKING],
    "INGEST_CHUNK_OVERLAP_TOKENS": [CHUNKING],
    "INGEST_FETCH_TIMEOUT": [FETCHING],
    "INGEST_USER_AGENT": [FETCHING],
    # -- Retrieval
    "RETRIEVAL_TOP_K": [RETRIEVAL, CONTEXT],
    "RETRIEVAL_CANDIDATES": [RETRIEVAL],
    "RETRIEVAL_FUSION": [RETRIEVAL],
    "RETRIEVAL_RRF_K": [RETRIEVAL],
    "RETRIEVAL_DENSE_WEIGHT": [RETRIEVAL],
    "RETRIEVAL_KEYWORD_WEIGHT": [RETRIEVAL],
    "RETRIEVAL_RERANK": [
        RERANK,
        A + "test_bad_input.py::test_rerank_without_a_model_stops_the_start_with_the_reason",
    ],
    "RETRIEVAL_RERANK_MODEL": [RERANK],
    "RETRIEVAL_RERANK_CANDIDATES": [RERANK],
    # Votes come from chat buttons and count by their age: the tests cast them through
    # RagService.vote (with a store clock days in the past for the half-life) and read the ranking.
    "RETRIEVAL_FEEDBACK_WEIGHT": [
        FEEDBACK + "test_a_weight_of_zero_turns_votes_off",
        FEEDBACK + "test_a_vote_counts_for_questions_like_the_one_voted_on",
    ],
    "RETRIEVAL_FEEDBACK_HALF_LIFE_DAYS": [FEEDBACK + "test_old_votes_fade_with_the_half_life"],
    # -- Language model
    "LLM_MODE": [PROTOCOLS, COMMANDS + "test_vllm_without_a_model_name_asks_the_server", EMBEDDED],
    "LLM_BASE_URL": [A + "test_readme.py::test_the_readme_usage_block_runs_as_written", PROTOCOLS],
    "LLM_MODEL": [REQUEST, PROTOCOLS],
    "LLM_API_KEY": [REQUEST],
    "LLM_TIMEOUT": [RETRIES],
    "LLM_MAX_TOKENS": [REQUEST],
    "LLM_CONCURRENCY": [CONCURRENCY, EMBEDDED],
    "LLM_TEMPERATURE": [REQUEST],
    "LLM_NUM_CTX": [PROTOCOLS, EMBEDDED],
    "LLM_KEEP_ALIVE": [PROTOCOLS],
    "LLM_RETRIES": [RETRIES],
    # llama.cpp's thread count changes no answer: EMBEDDED reads it in llama.cpp's own log
    "LLM_THREADS": [EMBEDDED],
    "LLM_TGI_TEMPLATE": [PROTOCOLS],
    "LLM_FAST_MODEL": [COMMANDS + "test_a_fast_model_answers_the_languages_it_is_given"],
    "LLM_FAST_LANGS": [COMMANDS + "test_a_fast_model_answers_the_languages_it_is_given"],
    # -- Answers
    "ANSWER_MAX_QUESTION_CHARS": [REQUEST],
    "ANSWER_CONTEXT_CHUNKS_MIN": [CONTEXT],
    "ANSWER_CONTEXT_CHUNKS_MAX": [CONTEXT],
    "ANSWER_CONTEXT_TOKENS": [CONTEXT],
    "ANSWER_CACHE_TTL_S": [CONCURRENCY, CACHE],
    "ANSWER_CACHE_SIZE": [CACHE],
    "ANSWER_HISTORY_TURNS": [CACHE],
    "ANSWER_THREAD_CONTEXT_TOKENS": [
        A
        + "test_conversation.py::test_a_mention_in_a_discussion_is_answered_with_the_thread_and_questions_mode_works",
        A + "test_conversation.py::test_a_thread_budget_of_zero_keeps_the_thread_from_the_model",
    ],
    "ANSWER_PROMPT_TOKENS": [COMMANDS + "test_the_prompt_budget_compresses_what_the_model_reads"],
    # answers days old are needed: the tests record them with a store clock in the past
    "ANSWER_RETENTION_DAYS": [
        "tests/unit/test_retention.py::test_the_leader_purges_what_is_older_than_the_retention",
        "tests/unit/test_retention.py::test_zero_keeps_everything",
    ],
    # -- Scheduler
    "SCHEDULER_ENABLED": [CACHE],
    "SCHEDULER_DEFAULT_EVERY_S": [
        A
        + "test_pins_and_types.py::test_a_page_pinned_without_an_interval_is_refreshed_on_the_configured_default"
    ],
    "SCHEDULER_MAX_CONSECUTIVE_FAILURES": [FAILING_PIN],
    "SCHEDULER_RETRY_BASE_S": [FAILING_PIN],
    # -- Document type classification
    "CLASSIFY_USE_MODEL": [CLASSIFY],
    "CLASSIFY_TAXONOMY_FILE": [
        A + "test_pins_and_types.py::test_a_taxonomy_file_drives_ingestion_the_question_prefix_and_help"
    ],
    "CLASSIFY_MODEL_FILE": [CLASSIFY],
    "CLASSIFY_MIN_CONFIDENCE": [CLASSIFY],
    "CLASSIFY_NLI_MODEL": [CLASSIFY],
    "CLASSIFY_NLI_MIN_CONFIDENCE": [CLASSIFY],
    # torch's thread count changes no result: the lower-level test reads it from torch, in the
    # thread that runs the model
    "CLASSIFY_NLI_THREADS": [
        "tests/unit/test_classify_nli.py::test_classify_nli_threads_sets_the_engines_threads"
    ],
    # -- Verified answers
    "VERIFIED_ENABLED": [VERIFIED],
    "VERIFIED_THRESHOLD": [VERIFIED],
    "VERIFIED_CROSS_LANG_THRESHOLD": [VERIFIED],
    # -- Slack. Where the journey is in tests/bot, the adapter is built from SlackSettings with
    # the field the variable sets and driven over HTTP by the local Slack.
    "SLACK_BOT_TOKEN": [
        SLACK + "test_a_channel_bound_from_the_cli_answers_there",
        "tests/integration/test_serve.py::test_adapters_are_on_when_their_token_is_set",
    ],
    "SLACK_SIGNING_SECRET": [
        A + "test_bad_input.py::test_malformed_or_unsigned_slack_requests_are_refused_and_serving_goes_on"
    ],
    "SLACK_APP_TOKEN": [
        BOT + "test_slack_socket.py::test_an_answer_over_socket_mode",
        BOT + "test_slack_socket.py::test_a_bad_app_token_fails_clearly",
    ],
    "SLACK_MODE": [BOT + "test_slack_socket.py::test_an_answer_over_socket_mode"],
    "SLACK_API_BASE_URL": [SLACK + "test_a_channel_bound_from_the_cli_answers_there"],
    "SLACK_ADMIN_USER_IDS": [SLACK + "test_an_admin_binds_a_channel_with_the_slash_command"],
    "SLACK_WORKSPACE_ADMINS_ARE_ADMINS": [
        BOT + "test_slack_commands.py::test_workspace_admins_count_only_when_enabled"
    ],
    "SLACK_ALERT_CHANNEL": [
        FAILING_PIN,
        BOT + "test_slack_delivery.py::test_alert_goes_to_the_alert_channel_or_the_admins",
    ],
    "SLACK_UPDATE_BUDGET_PER_MIN": [
        BOT + "test_slack_answers.py::test_the_chat_update_budget_is_slack_update_budget_per_min"
    ],
    "SLACK_DEFAULT_SPACE": [
        BOT + "test_slack_answers.py::test_direct_message_uses_the_default_space",
        BOT + "test_slack_answers.py::test_direct_message_without_a_space_gets_the_hint",
    ],
    # -- Telegram
    "TELEGRAM_BOT_TOKEN": [
        TELEGRAM + "test_a_private_chat_question_streams_and_a_thumbs_down_reason_is_counted"
    ],
    "TELEGRAM_MODE": [TELEGRAM + "test_a_group_on_a_webhook_is_bound_by_its_admin_and_answers_mentions"],
    "TELEGRAM_WEBHOOK_SECRET": [
        TELEGRAM + "test_a_group_on_a_webhook_is_bound_by_its_admin_and_answers_mentions"
    ],
    "TELEGRAM_WEBHOOK_URL": [BOT + "test_telegram_delivery.py::test_webhook_checks_the_secret_and_answers"],
    "TELEGRAM_API_BASE_URL": [
        TELEGRAM + "test_a_private_chat_question_streams_and_a_thumbs_down_reason_is_counted"
    ],
    "TELEGRAM_ADMIN_USER_IDS": [
        TELEGRAM + "test_an_admins_upload_is_ingested_and_a_broken_pdf_gets_a_message",
        BOT + "test_telegram_admin.py::test_document_from_a_non_admin_is_refused",
    ],
    "TELEGRAM_DEFAULT_SPACE": [
        TELEGRAM + "test_a_private_chat_question_streams_and_a_thumbs_down_reason_is_counted"
    ],
    "TELEGRAM_DM_SPACES": [BOT + "test_telegram_answers.py::test_private_chat_space_choice_and_hints"],
    "TELEGRAM_EDIT_INTERVAL_S": [
        BOT + "test_telegram_answers.py::test_group_mention_gets_placeholder_throttled_edits_and_final"
    ],
    # -- Admin console: `ragbot serve` with the console on; the session and sign-in limits in
    # tests/bot, where the clock can be moved (a session of CONSOLE_SESSION_HOURS ends)
    "CONSOLE_ENABLED": [
        CONSOLE_SERVE + "test_ragbot_serve_with_the_console_on_signs_an_admin_in",
        BOT + "test_console_security.py::test_off_by_default_no_console_route_exists",
    ],
    "CONSOLE_PASSWORD": [
        CONSOLE_SERVE + "test_ragbot_serve_with_the_console_on_signs_an_admin_in",
        CONSOLE_SERVE + "test_ragbot_serve_refuses_a_console_without_a_strong_password",
    ],
    "CONSOLE_SESSION_HOURS": [BOT + "test_console_security.py::test_sessions_are_signed_and_expire"],
    "CONSOLE_LOGIN_ATTEMPTS": [
        BOT + "test_console_security.py::test_a_wrong_password_is_refused_and_counted_then_the_address_waits"
    ],
    "CONSOLE_LOGIN_WINDOW_S": [
        BOT + "test_console_security.py::test_a_refused_address_may_sign_in_again_once_the_window_has_passed"
    ],
    "CONSOLE_PUBLIC_URL": [
        BOT + "test_console_chat_login.py::test_a_slack_admin_signs_in_with_a_link_from_the_bot_once",
        BOT + "test_console_chat_login.py::test_without_a_public_url_the_bot_says_how_to_turn_links_on",
    ],
    # -- HTTP server and shutdown
    "HOST": [CACHE],
    "PORT": [A + "test_readme.py::test_the_readme_usage_block_runs_as_written", CACHE],
    "SHUTDOWN_GRACE_S": [
        CONCURRENCY,
        A
        + "test_start_and_storage.py::test_a_restart_in_the_middle_of_an_answer_loses_and_duplicates_nothing",
    ],
    # -- docker compose only: read by compose, not by ragbot; each value set in .env is shown to
    # reach what `docker compose config` resolves (compose-go, the parser of docker compose v2)
    "COMPOSE_PROFILES": [
        "tests/integration/test_deploy_files.py::test_compose_profiles_chooses_the_gpu_servers"
    ],
    **{
        name: [COMPOSE_EFFECT, COMPOSE_DOCUMENTED]
        for name in (
            "RAGBOT_IMAGE",
            "WITH_EMBEDDED_LLM",
            "RAGBOT_PORT",
            "POSTGRES_IMAGE",
            "POSTGRES_PASSWORD",
            "QDRANT_IMAGE",
            "OLLAMA_IMAGE",
            "VLLM_IMAGE",
            "VLLM_DTYPE",
            "VLLM_GPU_MEMORY_UTILIZATION",
            "TGI_IMAGE",
            "TGI_MODEL",
            "TGI_DTYPE",
            "TGI_MAX_INPUT_LENGTH",
            "TGI_MAX_TOTAL_TOKENS",
            "GPU_COUNT",
            "HF_TOKEN",
        )
    },
    # issue 13: the keyword index inside Qdrant, and the scale-out settings a new collection gets
    # (a local server speaking Qdrant's REST API receives them: no Qdrant binary here)
    "KEYWORD_INDEX": [
        "tests/integration/test_keyword_backends.py::test_keyword_index_follows_the_settings",
        "tests/integration/test_keyword_backends.py::test_moving_from_whoosh_to_qdrant_without_re_embedding",
    ],
    "QDRANT_SHARDS": [QDRANT_SCALE],
    "QDRANT_REPLICATION_FACTOR": [QDRANT_SCALE],
    "QDRANT_WRITE_CONSISTENCY": [
        QDRANT_SCALE,
        "tests/integration/test_keyword_backends.py::test_write_consistency_above_the_replicas_is_refused",
    ],
    "QDRANT_ON_DISK": [QDRANT_SCALE],
    # issue 14: sources
    "CRAWL_MAX_PAGES": [SITES + "test_crawl_max_pages_is_the_default_bound"],
    "CRAWL_CONCURRENCY": [SITES + "test_crawl_concurrency_bounds_the_requests_in_flight"],
    "CRAWL_DELAY_S": [SITES + "test_crawl_delay_spaces_the_requests_and_robots_may_ask_for_more"],
    "GIT_TIMEOUT_S": ["tests/unit/test_git_sources.py::test_git_timeout_stops_a_hanging_fetch"],
    "CONFLUENCE_USER": CONFLUENCE,
    "CONFLUENCE_API_TOKEN": CONFLUENCE,
    "CONFLUENCE_TOKEN": ["tests/unit/test_confluence_sources.py::test_the_settings_choose_the_credentials"],
}


def documented() -> list[str]:
    """The variables of every table of docs/configuration.md, ragbot's and docker compose's."""
    text = CONFIGURATION.read_text(encoding="utf-8")
    return re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", text, re.M)


def test_every_documented_variable_has_a_test_of_its_effect() -> None:
    names = documented()
    assert len(names) > 80, "the tables of docs/configuration.md were not read"
    missing = [n for n in names if not EFFECTS.get(n)]
    assert not missing, (
        f"register a test that shows their effect in EFFECTS (see this file's docstring): {missing}"
    )


def test_the_registry_names_only_documented_variables() -> None:
    unknown = sorted(set(EFFECTS) - set(documented()))
    assert not unknown, f"not in docs/configuration.md (renamed or removed?): {unknown}"


def test_every_named_test_exists() -> None:
    absent = []
    for name, node_ids in EFFECTS.items():
        for node_id in node_ids:
            path, _, function = node_id.partition("::")
            file = REPO / path
            base = function.split("[", 1)[0]
            defined = file.is_file() and re.search(
                rf"^(async )?def {re.escape(base)}\(", file.read_text(encoding="utf-8"), re.M
            )
            if not (path.startswith("tests/") and base.startswith("test_") and defined):
                absent.append(f"{name}: {node_id}")
    assert not absent, absent
