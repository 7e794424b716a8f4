import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**', 'coverage/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain Node scripts (bin/, scripts/, the simulated kernel's fake tools).
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly'},
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
  {
    // The one command-runner seam and the one host-filesystem seam: nothing else may spawn processes or touch host files.
    files: ['src/**/*.ts'],
    ignores: ['src/host/runner.ts', 'src/host/fs.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          {name: 'execa', message: 'Run external commands through src/host/runner.ts (CommandRunner).'},
          {name: 'node:child_process', message: 'Run external commands through src/host/runner.ts (CommandRunner).'},
          {name: 'child_process', message: 'Run external commands through src/host/runner.ts (CommandRunner).'},
          {name: 'node:fs', message: 'Touch host files through src/host/fs.ts (HostFs).'},
          {name: 'node:fs/promises', message: 'Touch host files through src/host/fs.ts (HostFs).'},
          {name: 'fs', message: 'Touch host files through src/host/fs.ts (HostFs).'},
          {name: 'node:net', message: 'Open sockets through src/host/socket.ts (UnixSocketClient, QmpClient, GuestAgentSocketChannel).'},
          {name: 'net', message: 'Open sockets through src/host/socket.ts (UnixSocketClient, QmpClient, GuestAgentSocketChannel).'},
        ],
      }],
    },
  },
  {
    // The socket seam: the one file that may open sockets (still no processes, no host files).
    files: ['src/host/socket.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          {name: 'execa', message: 'Run external commands through src/host/runner.ts (CommandRunner).'},
          {name: 'node:child_process', message: 'Run external commands through src/host/runner.ts (CommandRunner).'},
          {name: 'child_process', message: 'Run external commands through src/host/runner.ts (CommandRunner).'},
          {name: 'node:fs', message: 'Touch host files through src/host/fs.ts (HostFs).'},
          {name: 'node:fs/promises', message: 'Touch host files through src/host/fs.ts (HostFs).'},
          {name: 'fs', message: 'Touch host files through src/host/fs.ts (HostFs).'},
        ],
      }],
    },
  },
)
