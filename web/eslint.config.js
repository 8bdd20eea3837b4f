// eslint.config.js - ESLint's recommended rules (real mistakes: unused
// variables, undefined names, unreachable code) over the JavaScript of web/
// and ops/; formatting is Prettier's (.prettierrc.json), not ESLint's.
// tests/lint/lint.sh web runs both, as ctest lint_web, from the repository
// root: with --config, ESLint reads the files patterns below from the
// current directory.
import js from '@eslint/js';
import globals from 'globals';

export default [
    js.configs.recommended,
    {
        rules: {
            // An empty catch is how the banner says "best effort": a damaged
            // cookie reads as no choice, a failed post is retried later.
            'no-empty': ['error', { allowEmptyCatch: true }],
        },
    },
    // The banner, the dashboard, the console (and what those two share) and
    // the demo page's tags run in the browser.
    {
        files: ['web/banner/**/*.js', 'web/dashboard/**/*.js', 'web/console/**/*.js', 'web/shared/**/*.js', 'web/demo/**/*.js'],
        languageOptions: { globals: globals.browser },
    },
    // The demo tags are classic scripts, served as they are.
    {
        files: ['web/demo/**/*.js'],
        languageOptions: { sourceType: 'script' },
    },
    // The build and the ops scripts run in Node.
    {
        files: ['web/build.mjs', 'ops/**/*.mjs'],
        languageOptions: { globals: globals.node },
    },
    // The scanner also hands functions to the page it drives (page.evaluate,
    // addInitScript): those run in the browser.
    {
        files: ['ops/scan.mjs'],
        languageOptions: { globals: { ...globals.node, ...globals.browser } },
    },
];
