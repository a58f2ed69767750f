package org.uprelay.shim;

import android.app.PendingIntent;
import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.content.pm.PackageManager;
import android.os.Build;
import android.os.Parcelable;
import android.util.Log;

import java.lang.reflect.Method;

import org.uprelay.shim.core.ConnectorCaller;

/**
 * What Android says about the sender of a REGISTER / UNREGISTER, for {@link ConnectorCaller},
 * which decides (AND_3 shared identity or PendingIntent, else AND_2's {@code application}).
 */
final class CallerIdentity implements ConnectorCaller.Facts {
    private static final String TAG = "uprelay";

    private final BroadcastReceiver receiver;
    private final Context context;
    private final Intent intent;

    private CallerIdentity(BroadcastReceiver receiver, Context context, Intent intent) {
        this.receiver = receiver;
        this.context = context;
        this.intent = intent;
    }

    /** Null when the caller cannot be identified; such intents are ignored. */
    static ConnectorCaller of(BroadcastReceiver receiver, Context context, Intent intent) {
        return ConnectorCaller.identify(new CallerIdentity(receiver, context, intent));
    }

    @Override
    public int sdkInt() {
        return Build.VERSION.SDK_INT;
    }

    // getSentFromPackage() is API 34; the app compiles against API 23, hence reflection.
    @Override
    public String sharedIdentity() {
        if (Build.VERSION.SDK_INT < ConnectorCaller.UPSIDE_DOWN_CAKE) {
            return null;
        }
        try {
            Method m = BroadcastReceiver.class.getMethod("getSentFromPackage");
            return (String) m.invoke(receiver);
        } catch (Exception e) {
            Log.w(TAG, "getSentFromPackage failed", e);
            return null;
        }
    }

    @Override
    public String pendingIntentCreator() {
        try {
            Parcelable pi = intent.getParcelableExtra("pi");
            return pi instanceof PendingIntent ? ((PendingIntent) pi).getCreatorPackage() : null;
        } catch (RuntimeException e) {
            // A hostile sender can put unparcelable garbage in the extras.
            Log.w(TAG, "unreadable pi extra", e);
            return null;
        }
    }

    @Override
    public int targetSdkOf(String packageName) {
        try {
            return context.getPackageManager().getApplicationInfo(packageName, 0).targetSdkVersion;
        } catch (PackageManager.NameNotFoundException e) {
            return Integer.MAX_VALUE;
        }
    }

    @Override
    public String applicationExtra() {
        try {
            return intent.getStringExtra("application");
        } catch (RuntimeException e) {
            return null;
        }
    }

    @Override
    public boolean isInstalled(String packageName) {
        try {
            context.getPackageManager().getPackageInfo(packageName, 0);
            return true;
        } catch (PackageManager.NameNotFoundException e) {
            return false;
        }
    }
}
