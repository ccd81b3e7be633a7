// Error classes with stable SY_ERR_* codes, an origin and whether a retry elsewhere is safe.

export type ErrorOrigin = "upstream" | "downstream" | "internal";

export class SwitchyardError extends Error {
  readonly code: string;
  readonly origin: ErrorOrigin;
  readonly retryable: boolean;
  constructor(code: string, origin: ErrorOrigin, retryable: boolean, message: string) {
    super(message);
    this.code = code;
    this.origin = origin;
    this.retryable = retryable;
  }
}

export class ConfigInvalidError extends SwitchyardError {
  readonly details: readonly string[];
  constructor(details: readonly string[]) {
    super("SY_ERR_CONFIG_INVALID", "internal", false, details.join("\n"));
    this.details = details;
  }
}

export class BindError extends SwitchyardError {
  constructor(address: string, cause: string) {
    super("SY_ERR_BIND", "internal", false, `cannot listen on ${address}: ${cause}`);
  }
}
