package com.amazonaws.services.lambda.runtime.logging;

/** The level of a log record, lowest first; UNDEFINED (a record without a level) is never filtered. */
public enum LogLevel {
    UNDEFINED, TRACE, DEBUG, INFO, WARN, ERROR, FATAL;

    /** The level named {@code name} (any case); UNDEFINED for anything else. */
    public static LogLevel fromString(String name) {
        if (name == null) {
            return UNDEFINED;
        }
        try {
            return LogLevel.valueOf(name.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return UNDEFINED;
        }
    }
}
