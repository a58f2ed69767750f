package org.uprelay.shim;

import android.app.Activity;
import android.content.Context;
import android.content.Intent;
import android.net.Uri;
import android.os.Build;
import android.os.Bundle;
import android.os.PowerManager;
import android.text.InputType;
import android.view.View;
import android.widget.Button;
import android.widget.EditText;
import android.widget.LinearLayout;
import android.widget.ScrollView;
import android.widget.TextView;

import java.text.DateFormat;
import java.util.Date;

import org.uprelay.shim.core.ActivityLog;
import org.uprelay.shim.core.DeviceCredentials;
import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.DistributorState;
import org.uprelay.shim.core.Problems;
import org.uprelay.shim.core.Registration;
import org.uprelay.shim.core.RelayInfo;
import org.uprelay.shim.core.UserProblem;

/** Settings and a read-only view of the distributor: relay, FCM, registrations, recent activity. */
public final class StatusActivity extends Activity {
    private Shim shim;
    private EditText relayUrl;
    private EditText sender;
    private EditText project;
    private TextView status;
    private Button battery;
    private Button road;
    private static final int TIRAMISU = 33;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        shim = Shim.get(this);
        // Built in code: the screen is small and this keeps the resource set (and R) trivial.
        LinearLayout column = new LinearLayout(this);
        column.setOrientation(LinearLayout.VERTICAL);
        int pad = (int) (16 * getResources().getDisplayMetrics().density);
        column.setPadding(pad, pad, pad, pad);
        relayUrl = field(column, R.string.label_relay_url, InputType.TYPE_CLASS_TEXT | InputType.TYPE_TEXT_VARIATION_URI);
        sender = field(column, R.string.label_fcm_sender, InputType.TYPE_CLASS_NUMBER);
        project = field(column, R.string.label_fcm_project, InputType.TYPE_CLASS_TEXT);
        Button save = new Button(this);
        save.setText(R.string.action_save);
        save.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                save();
            }
        });
        column.addView(save);
        battery = new Button(this);
        battery.setText(R.string.action_battery);
        battery.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                askBatteryExemption();
            }
        });
        column.addView(battery);
        road = new Button(this);
        road.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                nextRoad();
            }
        });
        column.addView(road);
        status = new TextView(this);
        status.setTextIsSelectable(true);
        column.addView(status);
        ScrollView scroll = new ScrollView(this);
        scroll.addView(column);
        setContentView(scroll);
        relayUrl.setText(shim.settings.relayUrl());
        sender.setText(shim.settings.senderNumber());
        project.setText(shim.settings.projectId());
        showRoad();
        // Android 13+: notifications (the problem notification among them) need the user's yes.
        if (Build.VERSION.SDK_INT >= TIRAMISU) {
            requestPermissions(new String[] {"android.permission.POST_NOTIFICATIONS"}, 1);
        }
    }

    // auto → fcm → webpush → auto: which road to the phone to take when the relay offers both.
    private void nextRoad() {
        Distributor.RoadChoice[] all = Distributor.RoadChoice.values();
        final Distributor.RoadChoice next = all[(shim.settings.road().ordinal() + 1) % all.length];
        shim.settings.saveRoad(next);
        showRoad();
        shim.runAsync(null, 0, new Shim.Task() {
            @Override
            public void run(Distributor distributor) {
                distributor.setRoadChoice(next);
                distributor.resume();
            }
        }, renderLater());
    }

    private void showRoad() {
        road.setText("Road: " + shim.settings.road().name().toLowerCase(java.util.Locale.ROOT)
                + " (auto takes Web Push when the relay offers it)");
    }

    /** Whether Android's battery optimisation may hold deliveries back while the phone dozes. */
    private boolean batteryOptimised() {
        PowerManager power = (PowerManager) getSystemService(Context.POWER_SERVICE);
        return !power.isIgnoringBatteryOptimizations(getPackageName());
    }

    // As ntfy does: the system dialog that exempts this one app, which needs no trip through settings.
    private void askBatteryExemption() {
        try {
            startActivity(new Intent(android.provider.Settings.ACTION_REQUEST_IGNORE_BATTERY_OPTIMIZATIONS,
                    Uri.parse("package:" + getPackageName())));
        } catch (RuntimeException e) {
            startActivity(new Intent(android.provider.Settings.ACTION_IGNORE_BATTERY_OPTIMIZATION_SETTINGS));
        }
    }

    @Override
    protected void onResume() {
        super.onResume();
        final boolean optimised = batteryOptimised();
        battery.setVisibility(optimised ? View.VISIBLE : View.GONE);
        shim.runAsync(null, 0, new Shim.Task() {
            @Override
            public void run(Distributor distributor) {
                distributor.setProblem(UserProblem.BATTERY_OPTIMISED,
                        optimised ? getString(R.string.battery_problem) : null);
            }
        });
        render();
        // Opening the screen is a good moment to retry whatever is pending.
        shim.runAsync(null, 0, new Shim.Task() {
            @Override
            public void run(Distributor distributor) {
                distributor.resume();
            }
        }, renderLater());
    }

    private EditText field(LinearLayout column, int label, int inputType) {
        TextView caption = new TextView(this);
        caption.setText(label);
        column.addView(caption);
        EditText edit = new EditText(this);
        edit.setSingleLine(true);
        edit.setInputType(inputType);
        column.addView(edit);
        return edit;
    }

    private void save() {
        final String url = relayUrl.getText().toString().trim();
        final String newSender = sender.getText().toString().trim();
        final String newProject = project.getText().toString().trim();
        if (!url.isEmpty() && Settings.relayFor(url) == null) {
            relayUrl.setError(getString(R.string.error_relay_url));
            return;
        }
        if (!newSender.isEmpty() && !Settings.isValidSender(newSender)) {
            sender.setError(getString(R.string.error_fcm_sender));
            return;
        }
        Settings settings = shim.settings;
        boolean changed = !newSender.equals(settings.senderNumber()) || !url.equals(settings.relayUrl())
                || !newProject.equals(settings.projectId());
        if (!changed) {
            return;
        }
        settings.save(url, newSender, newProject);
        shim.runAsync(null, 0, new Shim.Task() {
            @Override
            public void run(Distributor distributor) {
                distributor.reconfigure(Settings.relayFor(url), newProject, newSender);
            }
        }, renderLater());
    }

    private Runnable renderLater() {
        return new Runnable() {
            @Override
            public void run() {
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        render();
                    }
                });
            }
        };
    }

    private void render() {
        Distributor distributor = shim.distributor;
        DistributorState state = distributor.state();
        DateFormat time = DateFormat.getDateTimeInstance(DateFormat.SHORT, DateFormat.MEDIUM);
        StringBuilder text = new StringBuilder();
        for (Problems.Open p : state.problems.all()) {
            text.append("⚠ ").append(p.detail).append('\n');
        }
        String unavailable = shim.tokens.unavailableReason();
        String sender = distributor.sender();
        RelayInfo info = state.info();
        if (distributor.onWebPushRoad()) {
            text.append("\nToken asked for: the relay's VAPID key ").append(abbreviate(sender));
        } else {
            text.append("\nFCM sender id: ").append(sender == null ? "unknown"
                    : sender + (info != null && info.senderFor(shim.settings.projectId()) != null ? " (from the relay)" : ""));
        }
        text.append("\nFCM: ").append(unavailable != null ? unavailable
                : state.fcmToken() == null ? "no token yet"
                : "token " + abbreviate(state.fcmToken()) + (state.tokenObtainedAt() == 0 ? ""
                        : ", from " + time.format(new Date(state.tokenObtainedAt()))));
        text.append("\nRoad: ").append(distributor.onWebPushRoad() ? "Web Push (no Firebase project)" : "FCM");
        DeviceCredentials device = state.device();
        text.append("\nRelay device: ").append(device == null ? "not registered" : abbreviate(device.deviceId));
        if (info != null && info.requireVapid) {
            text.append("\nThe relay only accepts apps that give a VAPID key.");
        }
        if (state.deletedMessagesEvents() > 0) {
            text.append("\nFCM dropped messages for this phone ").append(state.deletedMessagesEvents())
                    .append(" times (more than 100 waited while it was offline), last at ")
                    .append(time.format(new Date(state.lastDeletedMessagesAt())));
        }
        text.append("\n\nRegistrations:");
        for (Registration r : state.book.all()) {
            text.append("\n• ").append(r.packageName);
            if (r.description != null) {
                text.append(" (").append(r.description).append(')');
            }
            text.append(r.confirmed ? "\n   " + r.endpoint : "\n   pending");
            text.append("\n   last ACK: ").append(r.lastAckAt == 0 ? "none" : time.format(new Date(r.lastAckAt)));
        }
        text.append("\n\nRecent activity:");
        for (ActivityLog.Entry e : state.log.entries()) {
            text.append("\n").append(time.format(new Date(e.timeMillis))).append("  ").append(e.text);
        }
        status.setText(text);
    }

    // Tokens and ids are credentials of a sort; the screen shows enough to tell them apart.
    private static String abbreviate(String secretish) {
        return secretish.length() <= 8 ? secretish : secretish.substring(0, 8) + "…";
    }
}
