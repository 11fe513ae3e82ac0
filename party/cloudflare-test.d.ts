// Types of the `cloudflare:test` module for the workerd tests.
/// <reference types="@cloudflare/vitest-plugin/types" />
