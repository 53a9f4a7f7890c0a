package com.amazonaws.services.lambda.runtime;

import com.amazonaws.services.lambda.runtime.logging.LogLevel;

/** Writes to the function's log: as text, or as JSON records when the function's log format is JSON. */
public interface LambdaLogger {
    /** Logs {@code message} without a level (never filtered). */
    void log(String message);

    /** Logs {@code message} without a level (never filtered). */
    void log(byte[] message);

    /** Logs {@code message} at {@code logLevel}, if the function's application log level lets it through. */
    default void log(String message, LogLevel logLevel) {
        log(message);
    }

    /** Logs {@code message} at {@code logLevel}, unformatted, if the level lets it through. */
    default void log(byte[] message, LogLevel logLevel) {
        log(message);
    }
}
