package com.amazonaws.services.lambda.runtime;

/** The Amazon Cognito identity of the caller, if any. */
public interface CognitoIdentity {
    String getIdentityId();
    String getIdentityPoolId();
}
