// The runtime's user-facing errors: a stable code to branch on and a sentence that says what
// to do. One base class, so every error of the runtime looks and prints the same way.
export class CodedError<Code extends string> extends Error {
  readonly code: Code
  constructor(code: Code, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.code = code
    this.name = new.target.name
  }
}
